using Feed.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Feed.Tests.Operations;

/// <summary>The Hangfire dashboard in a real headless Chromium (Debian's, at /usr/bin/chromium).</summary>
[Collection(AppCollection.Name)]
public sealed class DashboardBrowserTests(FeedApp app) : IAsyncLifetime
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        Assert.True(File.Exists(ChromiumPath), $"{ChromiumPath} is missing: scripts/test.sh installs Debian's chromium package.");
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // This machine's network is closed: keep Chromium from reaching out.
            Args = ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    [Fact]
    public async Task An_anonymous_visitor_is_refused()
    {
        var page = await (await _browser.NewContextAsync()).NewPageAsync();
        var statuses = new List<int>();
        page.Response += (_, response) => statuses.Add(response.Status);

        // Headless Chromium, with no credentials to answer the Basic challenge, abandons the navigation.
        var refused = await Assert.ThrowsAsync<PlaywrightException>(() => page.GotoAsync(Url("hangfire")));

        Assert.Contains("ERR_INVALID_AUTH_CREDENTIALS", refused.Message);
        Assert.Equal([401], statuses);
    }

    [Fact]
    public async Task An_admin_sees_the_queues()
    {
        var author = await app.CreateUserAsync("browser");
        await app.CreateFansAsync(author, 1);
        await author.PostAsync("puts the fan-out queue on the map");
        await app.DrainAsync();
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            HttpCredentials = new HttpCredentials { Username = FeedApp.DashboardUser, Password = FeedApp.DashboardPassword },
        });
        var page = await context.NewPageAsync();

        var response = await page.GotoAsync(Url("hangfire/jobs/enqueued"));

        Assert.Equal(200, response!.Status);
        var body = await page.Locator("body").InnerTextAsync();
        Assert.Contains("Queues", body);
        Assert.Contains("fanout", body);
        await page.ClickAsync("a[href$='/hangfire/recurring']");
        Assert.Equal("Recurring Jobs", (await page.Locator("h1").InnerTextAsync()).Trim());
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "dashboard-recurring.png") });
    }

    private string Url(string path) => new Uri(app.CreateClient().BaseAddress!, path).ToString();
}
