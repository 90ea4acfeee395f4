using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Security;

/// <summary>Secrets never appear in logs, errors or responses after creation.</summary>
[Collection(AppCollection.Name)]
public sealed class SecretsTests(FeedApp app)
{
    [Fact]
    public async Task Tokens_keys_and_passwords_never_reach_the_logs_or_error_responses()
    {
        var user = await app.CreateUserAsync("secretive");
        var token = user.Client.DefaultRequestHeaders.Authorization!.Parameter!;
        var bodies = new List<string>();

        // Good and bad tokens, good and bad dashboard passwords, errors of every kind.
        await user.PostAsync("hello");
        var forged = app.CreateClient();
        forged.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token[..^4] + "AAAA");
        bodies.Add(await (await forged.GetAsync("/v1/feed")).Content.ReadAsStringAsync());
        var dashboard = app.CreateClient();
        dashboard.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{FeedApp.DashboardUser}:{FeedApp.DashboardPassword}x")));
        Assert.Equal(HttpStatusCode.Unauthorized, (await dashboard.GetAsync("/hangfire")).StatusCode);
        bodies.Add(await (await user.Client.PostAsync("/v1/posts", new StringContent("{", Encoding.UTF8, "application/json"))).Content.ReadAsStringAsync());
        bodies.Add(await (await user.Client.GetAsync("/v1/users/abc")).Content.ReadAsStringAsync());

        Assert.True(app.LogScanner.LinesRead > 0);
        Assert.True(app.LogScanner.Leaks.Count == 0, string.Join("\n", app.LogScanner.Leaks.Take(5)));
        foreach (var body in bodies)
        {
            Assert.DoesNotContain("eyJ", body);
            Assert.DoesNotContain(FeedApp.DashboardPassword, body);
        }
    }
}
