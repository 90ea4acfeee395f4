using System.Net;
using System.Net.Http.Json;
using System.Text;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Operations;

/// <summary>The service protects itself: rate limits, backpressure, body limits. Each refusal writes nothing.</summary>
[Collection(AppCollection.Name)]
public sealed class ProtectionTests(FeedApp app)
{
    [Fact]
    public async Task Writes_over_the_per_user_limit_are_429_with_retry_after_and_write_nothing()
    {
        var user = await app.CreateUserAsync("eager");
        var attempts = FeedApp.WriteBurst * 3;

        var responses = await Task.WhenAll(Enumerable.Range(0, attempts)
            .Select(i => user.Client.PostAsJsonAsync("/v1/posts", new { body = $"post {i}" })));

        var created = responses.Count(r => r.StatusCode == HttpStatusCode.Created);
        var limited = responses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.True(limited.Count > 0, string.Join(", ", responses.GroupBy(r => r.StatusCode).Select(g => $"{g.Key}: {g.Count()}")));
        var odd = responses.FirstOrDefault(r => r.StatusCode is not (HttpStatusCode.Created or HttpStatusCode.TooManyRequests));
        Assert.True(odd is null, odd is null ? "" : $"{odd.StatusCode}: {await odd.Content.ReadAsStringAsync()}");
        Assert.Equal(attempts, created + limited.Count);
        var problem = await limited[0].AssertProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Contains("retry after", problem.GetProperty("detail").GetString());
        Assert.True(int.Parse(limited[0].Headers.GetValues("Retry-After").Single()) >= 1);
        Assert.Equal(created, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", user.Id));

        // Another user is not affected.
        var other = await app.CreateUserAsync("calm");
        await other.PostAsync("unaffected");
    }

    [Fact]
    public async Task Posts_are_refused_with_503_while_the_fan_out_backlog_is_over_its_limit_and_reads_keep_working()
    {
        var author = await app.CreateUserAsync("author");
        var anchor = await author.PostAsync("anchor");
        await app.DrainAsync();
        // A backlog of unconfirmed fan-out work, not yet due for redelivery.
        await app.ExecuteAsync(
            "INSERT INTO outbox (kind, post_id, next_attempt_at) SELECT 1, $1, now() + interval '1 day' FROM generate_series(1, $2)",
            long.Parse(anchor.Id), FeedApp.MaxOpenOutbox + 1);
        try
        {
            await WaitForStatusAsync(author, HttpStatusCode.ServiceUnavailable);
            var written = await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id);

            var refused = await author.Client.PostAsJsonAsync("/v1/posts", new { body = "refused" });

            var problem = await refused.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
            Assert.Contains("not accepting posts", problem.GetProperty("detail").GetString());
            Assert.True(refused.Headers.Contains("Retry-After"));
            Assert.Equal(written, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id));
            Assert.Contains(anchor.Id, (await author.FeedPageAsync()).Items.Select(p => p.Id));
        }
        finally
        {
            await app.ExecuteAsync("DELETE FROM outbox WHERE post_id = $1 AND next_attempt_at > now() + interval '1 hour'", long.Parse(anchor.Id));
        }
        Assert.Equal(HttpStatusCode.Created, (await WaitForStatusAsync(author, HttpStatusCode.Created)).StatusCode);
    }

    [Fact]
    public async Task Request_bodies_over_the_limit_are_413_and_write_nothing()
    {
        var user = await app.CreateUserAsync("verbose");
        var huge = "{\"body\":\"" + new string('x', 100 * 1024) + "\"}";

        var response = await user.Client.PostAsync("/v1/posts", new StringContent(huge, Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", user.Id));
    }

    private static async Task<HttpResponseMessage> WaitForStatusAsync(TestUser author, HttpStatusCode status)
    {
        // The backlog is measured every 200 ms in the tests; poll until the new state shows.
        for (var attempt = 0; ; attempt++)
        {
            var response = await author.Client.PostAsJsonAsync("/v1/posts", new { body = "probe" });
            if (response.StatusCode == status || attempt == 50)
            {
                return response;
            }
            await Task.Delay(100);
        }
    }
}
