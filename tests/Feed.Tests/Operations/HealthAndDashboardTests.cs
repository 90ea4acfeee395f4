using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Operations;

[Collection(AppCollection.Name)]
public sealed class HealthAndDashboardTests(FeedApp app)
{
    [Fact]
    public async Task Live_and_ready_report_the_process_and_its_dependencies()
    {
        var client = app.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);

        // Hangfire servers register shortly after start-up (and again after a flushed Redis); until then readiness is degraded.
        var ready = await client.GetFromJsonAsync<JsonElement>("/health/ready");
        for (var attempt = 0; attempt < 200 && ready.GetProperty("status").GetString() != "Healthy"; attempt++)
        {
            await Task.Delay(100);
            ready = await client.GetFromJsonAsync<JsonElement>("/health/ready");
        }

        Assert.True(ready.GetProperty("status").GetString() == "Healthy", ready.ToString());
        foreach (var check in new[] { "postgres", "redis", "workers" })
        {
            Assert.Equal("Healthy", ready.GetProperty("checks").GetProperty(check).GetProperty("status").GetString());
        }
    }

    [Fact]
    public async Task Dashboard_refuses_anonymous_visitors_and_ordinary_users()
    {
        var anonymous = await app.CreateClient().GetAsync("/hangfire");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Contains("Basic", anonymous.Headers.WwwAuthenticate.ToString());

        var user = await app.CreateUserAsync("nosy");
        var ordinary = await user.Client.GetAsync("/hangfire");
        Assert.Contains(ordinary.StatusCode, new[] { HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden });

        var wrongPassword = app.CreateClient();
        wrongPassword.DefaultRequestHeaders.Authorization = Basic(FeedApp.DashboardUser, "guess");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrongPassword.GetAsync("/hangfire")).StatusCode);
    }

    [Fact]
    public async Task Admins_get_the_full_dashboard_and_viewers_a_read_only_one()
    {
        var admin = app.CreateClient();
        admin.DefaultRequestHeaders.Authorization = Basic(FeedApp.DashboardUser, FeedApp.DashboardPassword);
        var queues = await admin.GetAsync("/hangfire/jobs/enqueued");
        Assert.Equal(HttpStatusCode.OK, queues.StatusCode);
        Assert.Contains("fanout", await queues.Content.ReadAsStringAsync());

        var tokenAdmin = await AdminTokenClientAsync(["admin"]);
        Assert.Equal(HttpStatusCode.OK, (await tokenAdmin.GetAsync("/hangfire/recurring")).StatusCode);

        // A viewer may look but not act: Hangfire refuses its commands.
        var viewer = app.CreateClient();
        viewer.DefaultRequestHeaders.Authorization = Basic("viewer", "viewer-password");
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync("/hangfire/recurring")).StatusCode);
        var trigger = await viewer.PostAsync("/hangfire/recurring/trigger",
            new FormUrlEncodedContent([new("jobs[]", "reconcile-follow-counts")]));
        Assert.NotEqual(HttpStatusCode.NoContent, trigger.StatusCode);
        var adminTrigger = await admin.PostAsync("/hangfire/recurring/trigger",
            new FormUrlEncodedContent([new("jobs[]", "reconcile-follow-counts")]));
        Assert.Equal(HttpStatusCode.NoContent, adminTrigger.StatusCode);

        var tokenViewer = await AdminTokenClientAsync(["viewer"]);
        Assert.Equal(HttpStatusCode.OK, (await tokenViewer.GetAsync("/hangfire")).StatusCode);
    }

    [Fact]
    public async Task Dev_token_refuses_unknown_roles()
    {
        var user = await app.CreateUserAsync("role");
        var response = await app.CreateClient().PostAsJsonAsync("/v1/auth/dev-token", new { userId = user.Id.ToString(), roles = new[] { "root" } });
        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    private async Task<HttpClient> AdminTokenClientAsync(string[] roles)
    {
        var user = await app.CreateUserAsync("ops");
        var token = await app.CreateClient().PostAsJsonAsync("/v1/auth/dev-token", new { userId = user.Id.ToString(), roles });
        token.EnsureSuccessStatusCode();
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        return client;
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
}
