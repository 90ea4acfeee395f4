using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Feed.Digests;
using Feed.Infrastructure.Telemetry;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MimeKit;
using Npgsql;

namespace Feed.Tests.Digests;

/// <summary>Digest emails over real SMTP: content, ranking, and exactly-once per user and period.</summary>
[Collection(AppCollection.Name)]
public sealed partial class DigestDeliveryTests(FeedApp app)
{
    private const string Period = "2026-06-01";

    [Fact]
    public async Task Digest_arrives_with_the_top_posts_of_followed_accounts_since_the_last_read_and_counts_the_rest()
    {
        var reader = await app.CreateSubscriberAsync();
        var alice = await app.CreateUserAsync("alice");
        var bob = await app.CreateUserAsync("bob");
        var carol = await app.CreateUserAsync("carol");
        await reader.User.FollowAsync(alice);
        await reader.User.FollowAsync(bob);
        var seen = await alice.PostAsync("[A0] read before the digest");
        await app.ExecuteAsync(
            "UPDATE users SET last_feed_read_at = (SELECT created_at FROM posts WHERE id = $1) WHERE id = $2", long.Parse(seen.Id), reader.Id);
        var a1 = await alice.PostAsync("[A1] oldest of alice");
        var b1 = await bob.PostAsync("[B1] first of bob");
        var a2 = await alice.PostAsync("[A2] alice again");
        var a3 = await alice.PostAsync("[A3] alice, <b>bold</b> & more");
        var b2 = await bob.PostAsync("[B2] newest of bob");
        var a4 = await alice.PostAsync("[A4] newest of alice");
        var deleted = await alice.PostAsync("[A5] deleted");
        Assert.Equal(HttpStatusCode.NoContent, (await alice.Client.DeleteAsync($"/v1/posts/{deleted.Id}")).StatusCode);
        await carol.PostAsync("[C1] not followed");
        await app.OnlyTheseSubscribeAsync(reader);

        var enqueued = await app.Scheduler().RunAsync(new DateTimeOffset(2026, 6, 1, 8, 5, 0, TimeSpan.Zero), default);

        Assert.Equal(1, enqueued);
        var mail = Assert.Single(await Maildev.Instance.WaitForAsync(reader.Email));
        Assert.Equal("Your daily digest: 6 new posts from people you follow", mail.Subject);
        Assert.Equal(reader.Email, Assert.Single(mail.To.Mailboxes).Address);
        Assert.IsType<MultipartAlternative>(mail.Body);
        var html = mail.HtmlBody ?? "";
        var text = mail.TextBody ?? "";
        // Ranking: newest first, at most two per author before the others get a turn (test setting), four shown.
        Assert.Equal([a4.Id, b2.Id, a3.Id, b1.Id], PostIdsIn(html));
        AssertInOrder(text, "[A4] newest of alice", "[B2] newest of bob", "[A3] alice, <b>bold</b> & more", "[B1] first of bob");
        Assert.Contains("[A3] alice, &lt;b&gt;bold&lt;/b&gt; &amp; more", html);
        foreach (var body in new[] { text, html })
        {
            Assert.Contains("2 more posts", body);
            foreach (var absent in new[] { "[A0]", "[A1]", "[A2]", "[A5]", "[C1]" })
            {
                Assert.DoesNotContain(absent, body);
            }
        }
        Assert.Equal(DigestStatus.Sent, await app.WaitForFinishedDigestAsync(reader.Id, Period));
        Assert.Equal(4, await app.ScalarAsync<int>("SELECT post_count FROM digests WHERE user_id = $1", reader.Id));
        Assert.Equal(6, await app.ScalarAsync<int>("SELECT total_count FROM digests WHERE user_id = $1", reader.Id));
        Assert.DoesNotContain(a1.Id, PostIdsIn(html));
        Assert.DoesNotContain(a2.Id, PostIdsIn(html));
    }

    [Fact]
    public async Task Every_email_has_a_one_click_unsubscribe_link_and_header_that_work()
    {
        var reader = await SubscriberWithNewPostAsync();
        Assert.Equal(DigestOutcome.Sent, await app.Sender().RunAsync(reader.Id, Period, default));
        var mail = Assert.Single(await Maildev.Instance.WaitForAsync(reader.Email));

        var header = mail.Headers[HeaderId.ListUnsubscribe] ?? "";
        Assert.Equal("List-Unsubscribe=One-Click", mail.Headers["List-Unsubscribe-Post"]);
        Assert.StartsWith($"<{FeedApp.PublicBaseUrl}/v1/digests/unsubscribe?token=", header);
        var url = new Uri(header.Trim('<', '>'));
        var link = WebUtility.HtmlDecode(UnsubscribeLink().Match(mail.HtmlBody ?? "").Groups[1].Value);
        Assert.Equal(url.ToString(), link);
        Assert.Contains(url.ToString(), mail.TextBody ?? "");
        var anonymous = app.CreateClient();

        // GET (what a link scanner or a click does) only shows the confirmation page.
        var page = await anonymous.GetAsync(url.PathAndQuery);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<form method=\"post\"", await page.Content.ReadAsStringAsync());
        Assert.True(await app.DigestEnabledAsync(reader.Id));

        // POST is the RFC 8058 one-click, as a mail client sends it.
        var oneClick = await anonymous.PostAsync(url.PathAndQuery,
            new FormUrlEncodedContent(new Dictionary<string, string> { ["List-Unsubscribe"] = "One-Click" }));
        Assert.Equal(HttpStatusCode.OK, oneClick.StatusCode);
        Assert.False(await app.DigestEnabledAsync(reader.Id));
        var settings = await reader.User.Client.GetStringAsync("/v1/users/me/settings");
        Assert.Contains("\"digestEnabled\":false", settings);

        // The confirmation page's button (a browser form post) again: idempotent, and a page for people.
        using var again = new HttpRequestMessage(HttpMethod.Post, url.PathAndQuery) { Content = new FormUrlEncodedContent([]) };
        again.Headers.Accept.ParseAdd("text/html");
        var confirmed = await anonymous.SendAsync(again);
        Assert.Equal(HttpStatusCode.OK, confirmed.StatusCode);
        Assert.Contains("You are unsubscribed", await confirmed.Content.ReadAsStringAsync());

        Assert.Equal(DigestOutcome.NotSubscribed, await app.Sender().RunAsync(reader.Id, "2026-06-02", default));
        await app.OnlyTheseSubscribeAsync(reader);
        Assert.Equal(0, await app.Scheduler().RunAsync(new DateTimeOffset(2026, 6, 3, 8, 0, 0, TimeSpan.Zero), default));
        Assert.Single(await Maildev.Instance.SettledAsync(reader.Email));
    }

    [Fact]
    public async Task Forged_or_garbled_unsubscribe_tokens_are_refused_and_change_nothing()
    {
        var victim = await app.CreateSubscriberAsync();
        var other = await app.CreateSubscriberAsync();
        var tokens = app.Services.GetRequiredService<UnsubscribeTokens>();
        var valid = tokens.Issue(victim.Id);
        var mac = valid[(valid.IndexOf('.') + 1)..];
        var otherKey = new UnsubscribeTokens(
            Options.Create(new DigestOptions { UnsubscribeKey = "a-different-unsubscribe-key-0123456789" }),
            app.Services.GetRequiredService<IOptions<Feed.Infrastructure.Auth.AuthOptions>>());
        var forged = new[]
        {
            $"{victim.Id}.{(mac[0] == 'A' ? 'B' : 'A')}{mac[1..]}",
            $"{other.Id}.{mac}",
            otherKey.Issue(victim.Id),
        };
        var garbled = new[] { "", "abc", $"{victim.Id}", $"{victim.Id}.", $"{victim.Id}.!!!!", $"-5.{mac}", $"{victim.Id}.{mac}AAAA", new string('9', 300) };
        var anonymous = app.CreateClient();

        foreach (var token in forged)
        {
            var url = $"/v1/digests/unsubscribe?token={Uri.EscapeDataString(token)}";
            var problem = await (await anonymous.PostAsync(url, null)).AssertProblemAsync(HttpStatusCode.Forbidden);
            Assert.Contains("signature", problem.GetProperty("detail").GetString());
            await (await anonymous.GetAsync(url)).AssertProblemAsync(HttpStatusCode.Forbidden);
        }
        foreach (var token in garbled)
        {
            var url = $"/v1/digests/unsubscribe?token={Uri.EscapeDataString(token)}";
            var problem = await (await anonymous.PostAsync(url, null)).AssertProblemAsync(HttpStatusCode.BadRequest);
            Assert.True(problem.GetProperty("errors").TryGetProperty("token", out _), token);
            await (await anonymous.GetAsync(url)).AssertProblemAsync(HttpStatusCode.BadRequest);
        }
        await (await anonymous.PostAsync("/v1/digests/unsubscribe", null)).AssertProblemAsync(HttpStatusCode.BadRequest);

        Assert.True(await app.DigestEnabledAsync(victim.Id));
        Assert.True(await app.DigestEnabledAsync(other.Id));
        // The genuine token still works, for its own user only.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.PostAsync($"/v1/digests/unsubscribe?token={valid}", null)).StatusCode);
        Assert.False(await app.DigestEnabledAsync(victim.Id));
        Assert.True(await app.DigestEnabledAsync(other.Id));
    }

    [Fact]
    public async Task Running_the_schedule_twice_sends_one_email()
    {
        var reader = await SubscriberWithNewPostAsync();
        await app.OnlyTheseSubscribeAsync(reader);
        var due = new DateTimeOffset(2026, 6, 1, 8, 10, 0, TimeSpan.Zero);

        Assert.Equal(1, await app.Scheduler().RunAsync(due, default));
        Assert.Equal(0, await app.Scheduler().RunAsync(due, default));
        Assert.Equal(0, await app.Scheduler().RunAsync(due.AddMinutes(15), default));

        Assert.Equal(DigestStatus.Sent, await app.WaitForFinishedDigestAsync(reader.Id, Period));
        Assert.Equal(0, await app.Scheduler().RunAsync(due.AddMinutes(30), default));
        Assert.Single(await Maildev.Instance.SettledAsync(reader.Email));
    }

    [Fact]
    public async Task Two_workers_sending_the_same_digest_at_once_send_one_email()
    {
        var reader = await SubscriberWithNewPostAsync();

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => app.Sender().RunAsync(reader.Id, Period, default)));

        Assert.Equal(1, outcomes.Count(o => o == DigestOutcome.Sent));
        Assert.Equal(3, outcomes.Count(o => o == DigestOutcome.AlreadyClaimed));
        Assert.Equal(DigestOutcome.AlreadyClaimed, await app.Sender().RunAsync(reader.Id, Period, default));
        Assert.Single(await Maildev.Instance.SettledAsync(reader.Email));
        Assert.Equal(1, await app.ScalarAsync<int>("SELECT attempts FROM digests WHERE user_id = $1", reader.Id));
    }

    [Fact]
    public async Task A_failed_send_is_released_and_the_retry_sends_it_once()
    {
        var reader = await SubscriberWithNewPostAsync();
        var failing = SenderThroughSmtpPort(ClosedPort());

        await Assert.ThrowsAnyAsync<Exception>(() => failing.RunAsync(reader.Id, Period, default));

        Assert.Equal(DigestStatus.Pending, (await app.DigestRowsAsync(reader.Id))[Period]);
        Assert.NotNull(await app.ScalarAsync<string>("SELECT last_error FROM digests WHERE user_id = $1", reader.Id));
        Assert.Empty(await Maildev.Instance.MessagesToAsync(reader.Email));

        Assert.Equal(DigestOutcome.Sent, await app.Sender().RunAsync(reader.Id, Period, default));
        Assert.Single(await Maildev.Instance.SettledAsync(reader.Email));
        Assert.Equal(2, await app.ScalarAsync<int>("SELECT attempts FROM digests WHERE user_id = $1", reader.Id));
        Assert.Equal(DigestStatus.Sent, (await app.DigestRowsAsync(reader.Id))[Period]);
    }

    [Fact]
    public async Task A_live_lease_is_respected_and_a_crashed_senders_lease_is_taken_over_once_it_runs_out()
    {
        var reader = await SubscriberWithNewPostAsync();
        await app.ExecuteAsync("""
            INSERT INTO digests (user_id, period, status, attempts, lease_until, lease_token)
            VALUES ($1, $2, 2, 1, now() + interval '10 minutes', gen_random_uuid())
            """, reader.Id, Period);

        Assert.Equal(DigestOutcome.AlreadyClaimed, await app.Sender().RunAsync(reader.Id, Period, default));
        Assert.Empty(await Maildev.Instance.SettledAsync(reader.Email));

        await app.ExecuteAsync("UPDATE digests SET lease_until = now() - interval '1 second' WHERE user_id = $1", reader.Id);
        Assert.Equal(DigestOutcome.Sent, await app.Sender().RunAsync(reader.Id, Period, default));
        Assert.Single(await Maildev.Instance.SettledAsync(reader.Email));
    }

    [Fact]
    public async Task Users_with_nothing_new_get_nothing_and_their_period_is_done()
    {
        var reader = await app.CreateSubscriberAsync();
        var loner = await app.CreateSubscriberAsync();
        var author = await app.CreateUserAsync("quiet");
        await reader.User.FollowAsync(author);
        await author.PostAsync("read already");
        await app.ExecuteAsync("UPDATE users SET last_feed_read_at = now() WHERE id = $1", reader.Id);

        Assert.Equal(DigestOutcome.NothingNew, await app.Sender().RunAsync(reader.Id, Period, default));
        Assert.Equal(DigestOutcome.NothingNew, await app.Sender().RunAsync(loner.Id, Period, default));

        Assert.Equal(DigestStatus.NothingNew, (await app.DigestRowsAsync(reader.Id))[Period]);
        await app.OnlyTheseSubscribeAsync(reader, loner);
        await author.PostAsync("too late for this morning's digest");
        Assert.Equal(0, await app.Scheduler().RunAsync(new DateTimeOffset(2026, 6, 1, 9, 0, 0, TimeSpan.Zero), default));
        Assert.Empty(await Maildev.Instance.SettledAsync(reader.Email));
        Assert.Empty(await Maildev.Instance.MessagesToAsync(loner.Email));
    }

    [Fact]
    public async Task Opted_out_users_get_nothing()
    {
        var control = await SubscriberWithNewPostAsync();
        var optedOut = await SubscriberWithNewPostAsync();
        var response = await optedOut.User.Client.PatchAsync("/v1/users/me/settings", Json("""{"digestEnabled":false}"""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await app.OnlyTheseSubscribeAsync(control, optedOut);

        Assert.Equal(1, await app.Scheduler().RunAsync(new DateTimeOffset(2026, 6, 1, 8, 0, 0, TimeSpan.Zero), default));
        Assert.Equal(DigestOutcome.NotSubscribed, await app.Sender().RunAsync(optedOut.Id, Period, default));

        await Maildev.Instance.WaitForAsync(control.Email);
        Assert.Empty(await Maildev.Instance.SettledAsync(optedOut.Email));
        Assert.Empty(await app.DigestRowsAsync(optedOut.Id));
    }

    /// <summary>A subscriber who follows an author with one post they have not read.</summary>
    private async Task<Subscriber> SubscriberWithNewPostAsync()
    {
        var reader = await app.CreateSubscriberAsync();
        var author = await app.CreateUserAsync("author");
        await reader.User.FollowAsync(author);
        await author.PostAsync($"news for {reader.User.Handle}");
        return reader;
    }

    private SendDigestJob SenderThroughSmtpPort(int port)
    {
        var options = app.Services.GetRequiredService<IOptions<DigestOptions>>();
        var unreachable = new DigestOptions
        {
            PublicBaseUrl = options.Value.PublicBaseUrl,
            Smtp = new SmtpSettings { Host = "127.0.0.1", Port = port, Security = MailKit.Security.SecureSocketOptions.None, Timeout = TimeSpan.FromSeconds(5) },
        };
        return new SendDigestJob(
            app.Services.GetRequiredService<NpgsqlDataSource>(),
            app.Services.GetRequiredService<DigestComposer>(),
            new DigestMailer(Options.Create(unreachable), app.Services.GetRequiredService<UnsubscribeTokens>()),
            app.Services.GetRequiredService<Feed.Outbox.OutboxDispatcher>(),
            app.Services.GetRequiredService<FeedMetrics>(),
            options,
            app.Services.GetRequiredService<ILogger<SendDigestJob>>());
    }

    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static StringContent Json(string json) => new(json, System.Text.Encoding.UTF8, "application/json");

    private static List<string> PostIdsIn(string html) => [.. PostIdAttribute().Matches(html).Select(m => m.Groups[1].Value)];

    private static void AssertInOrder(string text, params string[] parts)
    {
        var at = -1;
        foreach (var part in parts)
        {
            var next = text.IndexOf(part, StringComparison.Ordinal);
            Assert.True(next > at, $"'{part}' is missing or out of order in:\n{text}");
            at = next;
        }
    }

    [GeneratedRegex("data-post-id=\"(\\d+)\"")]
    private static partial Regex PostIdAttribute();

    [GeneratedRegex("href=\"([^\"]*/v1/digests/unsubscribe\\?token=[^\"]+)\"")]
    private static partial Regex UnsubscribeLink();
}
