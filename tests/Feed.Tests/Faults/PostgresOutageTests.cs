using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Feed.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Feed.Tests.Faults;

/// <summary>
/// Postgres goes away under the app (every connection reset, new ones refused) and comes back:
/// writes fail fast with 503, warm feeds keep being read from Redis, and everything resumes by itself.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class PostgresOutageTests(FeedApp app, ITestOutputHelper output)
{
    [Fact]
    public async Task Without_postgres_writes_fail_fast_reads_are_served_from_redis_and_all_resumes_after()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, 3);
        var before = await author.PostAsync("before the outage");
        await app.DrainAsync();
        foreach (var fan in fans)
        {
            Assert.Equal([before.Id], (await fan.FeedPageAsync()).Items.Select(p => p.Id)); // warm
        }

        app.PostgresProxy.Cut();
        try
        {
            var clock = Stopwatch.StartNew();
            var refusedPost = await author.Client.PostAsJsonAsync("/v1/posts", new { body = "during the outage" });
            var postFailedIn = clock.Elapsed;
            await refusedPost.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
            Assert.NotNull(refusedPost.Headers.RetryAfter);
            clock.Restart();
            var refusedFollow = await fans[0].Client.PutAsync($"/v1/users/me/following/{fans[1].Id}", null);
            var followFailedIn = clock.Elapsed;
            await refusedFollow.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
            // A hung request would take the 5 s command timeout or longer; failing fast is well below it.
            Assert.True(postFailedIn < TimeSpan.FromSeconds(5), $"the post took {postFailedIn} to fail");
            Assert.True(followFailedIn < TimeSpan.FromSeconds(5), $"the follow took {followFailedIn} to fail");

            clock.Restart();
            foreach (var fan in fans)
            {
                var page = await fan.FeedPageAsync();
                Assert.Equal([before.Id], page.Items.Select(p => p.Id));
            }
            output.WriteLine($"post refused in {postFailedIn.TotalMilliseconds:F0} ms, follow in {followFailedIn.TotalMilliseconds:F0} ms; " +
                             $"3 feeds read from Redis in {clock.Elapsed.TotalMilliseconds:F0} ms");
        }
        finally
        {
            app.PostgresProxy.Restore();
        }

        // Back: the first write that succeeds, and its fan-out, without anyone restarting anything.
        var restored = Stopwatch.StartNew();
        HttpResponseMessage accepted;
        while ((accepted = await author.Client.PostAsJsonAsync("/v1/posts", new { body = "after the outage" })).StatusCode != HttpStatusCode.Created)
        {
            Assert.True(restored.Elapsed < TimeSpan.FromSeconds(30), $"writes did not resume: {accepted.StatusCode}");
            await Task.Delay(100);
        }
        var after = (await accepted.Content.ReadFromJsonAsync<PostDto>())!;
        output.WriteLine($"writes resumed {restored.Elapsed.TotalMilliseconds:F0} ms after Postgres came back");
        await app.DrainAsync();
        foreach (var fan in fans)
        {
            Assert.Equal([after.Id, before.Id], (await fan.FeedPageAsync()).Items.Select(p => p.Id));
        }
        Assert.Equal(0, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE body = 'during the outage'"));
    }
}
