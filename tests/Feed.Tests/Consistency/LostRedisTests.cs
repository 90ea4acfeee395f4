using System.Diagnostics;
using System.Net;
using Feed.Feeds;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Consistency;

/// <summary>Redis holds only derived state: losing it costs latency, never a post, a follow or a fan-out.</summary>
[Collection(AppCollection.Name)]
public sealed class LostRedisTests(FeedApp app, Xunit.Abstractions.ITestOutputHelper output)
{
    private FeedStore Feeds => app.Services.GetRequiredService<FeedStore>();

    [Fact]
    public async Task Flushed_redis_loses_no_post_follow_or_fan_out()
    {
        var author = await app.CreateUserAsync("author");
        var celebrity = await app.CreateUserAsync("celeb");
        var fans = await app.CreateFansAsync(author, 3);
        foreach (var fan in fans)
        {
            await fan.FollowAsync(celebrity);
        }
        await app.CreateFansAsync(celebrity, FeedApp.CelebrityThreshold);
        var before = new List<PostDto> { await author.PostAsync("before"), await celebrity.PostAsync("famous before") };
        await app.DrainAsync();

        // A burst of writes, then Redis loses everything while their jobs are queued or running.
        var burst = new List<Task<PostDto>>();
        for (var i = 0; i < 10; i++)
        {
            burst.Add(author.PostAsync($"burst {i}"));
        }
        var newFan = await app.CreateUserAsync("late");
        await newFan.FeedPageAsync();
        await newFan.FollowAsync(author);
        var written = await Task.WhenAll(burst);
        await app.FlushRedisAsync();
        var flushed = System.Diagnostics.Stopwatch.StartNew();
        var after = await author.PostAsync("after the flush");
        await app.DrainAsync(TimeSpan.FromSeconds(60));
        output.WriteLine($"all fan-out work done {flushed.Elapsed.TotalSeconds:F1} s after the flush");

        var expected = written.Append(after).Concat(before).OrderByDescending(p => long.Parse(p.Id)).Select(p => p.Id).ToList();
        foreach (var fan in fans)
        {
            Assert.Equal(expected, (await fan.WholeFeedAsync()).Select(p => p.Id));
        }
        var authorPosts = written.Append(after).Append(before[0]).OrderByDescending(p => long.Parse(p.Id)).Select(p => p.Id);
        Assert.Equal(authorPosts, (await newFan.WholeFeedAsync()).Select(p => p.Id));
        // The pushed feed itself is whole again, not only the reads.
        Assert.Equal(authorPosts.Select(long.Parse), await Feeds.GetAllAsync(newFan.Id));
    }

    [Fact]
    public async Task Restarted_redis_loses_no_post_or_webhook_and_reads_fail_fast_while_it_is_down()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, 2);
        await using var receiver = await Webhooks.WebhookReceiver.StartAsync();
        receiver.Add("restart");
        var partner = await app.CreatePartnerAsync();
        var subscription = (await Webhooks.WebhookTestKit.SubscribeAsync(partner, receiver.Url("restart"), "post.created")).Subscription.Id;
        var first = await author.PostAsync("before the restart");
        await app.DrainAsync();

        app.RedisAdmin.GetServers()[0].Shutdown(StackExchange.Redis.ShutdownMode.Never);
        try
        {
            // Postgres commits the post; its fan-out enqueue fails and is left to the outbox relay.
            var during = await author.PostAsync("while Redis is down");
            var read = await fans[0].Client.GetAsync("/v1/feed");
            await read.AssertProblemAsync(HttpStatusCode.ServiceUnavailable);
            Assert.True(read.Headers.Contains("Retry-After"));

            await StartRedisAsync();
            var restarted = System.Diagnostics.Stopwatch.StartNew();
            await app.DrainAsync(TimeSpan.FromSeconds(60));
            var fanOutDone = restarted.Elapsed;
            await Webhooks.WebhookTestKit.WaitForDeliveriesAsync(partner, subscription, "succeeded", 2, TimeSpan.FromSeconds(60));
            output.WriteLine($"after the restart: fan-out done in {fanOutDone.TotalSeconds:F1} s, webhooks delivered in {restarted.Elapsed.TotalSeconds:F1} s");

            foreach (var fan in fans)
            {
                Assert.Equal(new[] { during.Id, first.Id }, (await fan.WholeFeedAsync()).Select(p => p.Id));
            }
            var delivered = receiver.Get("restart").Requests.Select(r => r.Json.GetProperty("data").GetProperty("id").GetString()).Distinct().Order();
            Assert.Equal(new[] { first.Id, during.Id }.Order(), delivered);
        }
        finally
        {
            await StartRedisAsync();
            // Later tests' posts must not queue deliveries to this test's receiver, gone once it ends.
            await partner.Client.DeleteAsync($"/v1/webhooks/subscriptions/{subscription}");
        }
    }

    /// <summary>
    /// Starts the test Redis again with the project's own script (a no-op if it is running) and waits
    /// until the app has reconnected.
    /// </summary>
    private async Task StartRedisAsync()
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "scripts", "deps.sh")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("scripts/deps.sh not found above the test binaries.");
        }
        using var deps = Process.Start(new ProcessStartInfo("bash", [Path.Combine(root, "scripts", "deps.sh")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        await deps.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.Equal(0, deps.ExitCode);
        for (var attempt = 0; attempt < 300 && !(app.Redis.IsConnected && app.RedisAdmin.IsConnected); attempt++)
        {
            await Task.Delay(100);
        }
        Assert.True(app.Redis.IsConnected, "The app did not reconnect to Redis.");
    }
}
