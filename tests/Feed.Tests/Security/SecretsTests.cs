using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Feed.Digests;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

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

    [Fact]
    public async Task Unsubscribe_tokens_never_reach_the_logs_traces_or_error_responses()
    {
        var user = await app.CreateUserAsync("unsubscriber");
        var tokens = app.Services.GetRequiredService<UnsubscribeTokens>();
        var valid = tokens.Issue(user.Id);
        var mac = valid[(valid.IndexOf('.') + 1)..];
        var forged = $"{user.Id}.{(mac[0] == 'A' ? 'B' : 'A')}{mac[1..]}";
        var noSuchUser = tokens.Issue(123_456_789); // an id of 2025-01-01's first minute (ids are time-ordered): nobody has it
        string[] secrets = [valid, mac, forged, noSuchUser];
        const string RedactedUrl = "/v1/digests/unsubscribe?token=[redacted]";
        app.LogScanner.Watch(RedactedUrl);
        var linesBefore = app.LogScanner.Seen(RedactedUrl);
        var traceId = ActivityTraceId.CreateRandom();
        app.Traces.Watch(traceId);
        var anonymous = app.CreateClient();
        var bodies = new List<string>();
        var requests = 0;

        async Task<HttpResponseMessage> SendAsync(HttpMethod method, string token, HttpStatusCode expected)
        {
            requests++;
            var response = await anonymous.SendAsync(new HttpRequestMessage(method, $"/v1/digests/unsubscribe?token={token}"));
            Assert.Equal(expected, response.StatusCode);
            return response;
        }

        // As an email's link and a mail client's one-click send them, valid and forged, with every error the endpoints have.
        using (new Activity("unsubscribe client").SetParentId(traceId, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
        {
            await SendAsync(HttpMethod.Get, valid, HttpStatusCode.OK); // the confirmation page: its form posts the token back, by design
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
            {
                bodies.Add(await (await SendAsync(method, forged, HttpStatusCode.Forbidden)).Content.ReadAsStringAsync());
                bodies.Add(await (await SendAsync(method, noSuchUser, HttpStatusCode.NotFound)).Content.ReadAsStringAsync());
                bodies.Add(await (await SendAsync(method, valid + "AAAA", HttpStatusCode.BadRequest)).Content.ReadAsStringAsync());
            }
            bodies.Add(await (await SendAsync(HttpMethod.Put, valid, HttpStatusCode.MethodNotAllowed)).Content.ReadAsStringAsync());
            bodies.Add(await (await SendAsync(HttpMethod.Post, valid, HttpStatusCode.OK)).Content.ReadAsStringAsync());
        }
        // Request lines Kestrel refuses by itself, quoting them (or their target) in its bad-request log.
        foreach (var line in new[] { $"G@T /v1/digests/unsubscribe?token={valid} HTTP/1.1", $"GET /v1/digests/unsubscribe?token={valid}\u00ff HTTP/1.1" })
        {
            using var tcp = new TcpClient();
            var server = anonymous.BaseAddress!;
            await tcp.ConnectAsync(server.Host, server.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.Latin1.GetBytes($"{line}\r\nHost: {server.Authority}\r\n\r\n"));
            var answer = new byte[256];
            var read = await stream.ReadAsync(answer);
            Assert.StartsWith("HTTP/1.1 400", Encoding.ASCII.GetString(answer, 0, read));
        }

        // Every request is logged (starting and finished) with its query values redacted, and nothing holds a token.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (app.LogScanner.Seen(RedactedUrl) < linesBefore + 2 * requests && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.True(app.LogScanner.Leaks.Count == 0, string.Join("\n", app.LogScanner.Leaks.Take(5)));
        Assert.True(app.LogScanner.Seen(RedactedUrl) >= linesBefore + 2 * requests,
            $"{app.LogScanner.Seen(RedactedUrl) - linesBefore} log lines with {RedactedUrl}, expected {2 * requests}");
        foreach (var body in bodies)
        {
            Assert.DoesNotContain(secrets, secret => body.Contains(secret, StringComparison.Ordinal));
        }

        // The request spans carry the query with its values redacted too.
        IReadOnlyList<Activity> spans = [];
        for (var attempt = 0; attempt < 200 && spans.Count < requests; attempt++)
        {
            await Task.Delay(50);
            spans = [.. app.Traces.Spans(traceId).Where(s => s.Kind == ActivityKind.Server)];
        }
        Assert.Equal(requests, spans.Count);
        foreach (var span in spans)
        {
            Assert.Equal("?token=[redacted]", span.GetTagItem("url.query"));
            var text = string.Join(" ", span.TagObjects.Select(t => $"{t.Key}={t.Value}")) + " " + span.DisplayName;
            Assert.DoesNotContain(secrets, secret => text.Contains(secret, StringComparison.Ordinal));
        }
    }
}
