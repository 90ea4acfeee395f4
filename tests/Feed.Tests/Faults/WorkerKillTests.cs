using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Tests.Infrastructure;
using Hangfire.Redis.StackExchange;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Feed.Tests.Faults;

/// <summary>
/// A worker process dies with SIGKILL in the middle of a 20,000-follower fan-out; a new worker
/// starts. Every active follower must end up with the post exactly once, within the recovery bound
/// of the mechanism that brings the lost jobs back (docs/operations.md, "Faults and recovery"):
/// <list type="bullet">
/// <item>the outbox relay re-enqueues the post's unconfirmed fan-out <c>Outbox:RedeliverAfter</c>
/// after its last enqueue, and the new run's batches redo every follower;</item>
/// <item>Hangfire hands the killed worker's fetched jobs to another worker once they have been
/// invisible for <c>Service:InvisibilityTimeout</c>, checked at a worker's start and then once a
/// minute.</item>
/// </list>
/// Each case switches the other mechanism off (an hour), so it shows that one alone recovers.
/// </summary>
[Collection(ProcessesCollection.Name)]
public sealed class WorkerKillTests(ITestOutputHelper output)
{
    private const int Followers = 20_000;
    private const int BatchSize = 100;
    private const int FanOutWorkers = 2;
    private const int RedisDatabase = 5;

    /// <summary>Far beyond anything either mechanism should need; the measured time is printed.</summary>
    private static readonly TimeSpan RecoveryLimit = TimeSpan.FromMinutes(3);

    public enum Recovery
    {
        OutboxRelay,
        InvisibilityTimeout,
    }

    [Theory]
    [InlineData(Recovery.OutboxRelay)]
    [InlineData(Recovery.InvisibilityTimeout)]
    public async Task Worker_killed_mid_fan_out_leaves_every_active_follower_with_the_post_exactly_once(Recovery recovery)
    {
        var settings = new Dictionary<string, string>
        {
            // 20,000 followers must be pushed to, not merged at read time.
            ["FanOut:CelebrityThreshold"] = "100000",
            ["FanOut:CelebrityLowerMark"] = "90000",
            ["FanOut:BatchSize"] = BatchSize.ToString(),
            ["Outbox:RelayInterval"] = "00:00:01",
            ["Outbox:RedeliverAfter"] = recovery == Recovery.OutboxRelay ? "00:00:15" : "01:00:00",
            ["Service:InvisibilityTimeout"] = recovery == Recovery.InvisibilityTimeout ? "00:00:02" : "01:00:00",
            ["Service:Workers:fanout"] = FanOutWorkers.ToString(),
            // The relay's and the planner's lines show in the test log which mechanism recovered.
            ["Logging:LogLevel:Feed"] = "Information",
        };
        await using var deployment = await ProcessDeployment.CreateAsync(RedisDatabase, settings, output);
        var (authorId, followers) = await SeedAuthorWithActiveFollowersAsync(deployment);
        var api = await deployment.StartAsync("api", new Dictionary<string, string> { ["Service:Roles"] = "api" });
        var workerA = await deployment.StartAsync("worker A", new Dictionary<string, string> { ["Service:Roles"] = "worker" });

        var postId = await PostAsync(api, authorId, "to twenty thousand followers");
        var outboxId = await deployment.ScalarAsync<long>("SELECT id FROM outbox WHERE post_id = $1", postId);
        var total = await WaitForPlanAsync(deployment, outboxId);
        var doneAtKill = await WaitForBatchesDoneAsync(deployment, outboxId, total / 4);

        // A quarter in, a slow statement elsewhere holds the follows table: worker A's next batches
        // wait for it, fetched and not yet pushed. The kill then certainly loses work (killed at a
        // random moment, a worker may hold only jobs whose pushes are done and whose bookkeeping is not).
        var blocker = await deployment.Postgres.OpenConnectionAsync();
        var slowStatement = await blocker.BeginTransactionAsync();
        await using (var lockFollows = new NpgsqlCommand("LOCK TABLE follows IN ACCESS EXCLUSIVE MODE", blocker, slowStatement))
        {
            await lockFollows.ExecuteNonQueryAsync();
        }
        await WaitForStatementsWaitingOnLocksAsync(deployment, FanOutWorkers);
        workerA.Kill();
        var sinceKill = Stopwatch.StartNew();
        await slowStatement.CommitAsync();
        await blocker.DisposeAsync();

        Assert.False(await deployment.ScalarAsync<bool>("SELECT completed_at IS NOT NULL FROM outbox WHERE id = $1", outboxId));
        Assert.Equal(FanOutWorkers, FetchedFanOutJobs(deployment)); // worker A's, never to finish
        var lackingAtKill = (await FollowersLackingAsync(deployment, followers, postId)).Count;

        var startingB = Stopwatch.StartNew();
        await deployment.StartAsync("worker B", new Dictionary<string, string> { ["Service:Roles"] = "worker" });
        var workerBStarted = startingB.Elapsed;
        await WaitUntilEveryFeedHoldsAsync(deployment, followers, postId, RecoveryLimit);
        var recovered = sinceKill.Elapsed;
        var drained = await deployment.DrainAsync(TimeSpan.FromSeconds(60));

        output.WriteLine(
            $"{recovery}: {Followers} followers in {total} batches of {BatchSize}; worker A killed after {doneAtKill} batches, " +
            $"holding {FanOutWorkers} fetched batches, with {lackingAtKill} feeds lacking the post; worker B live after " +
            $"{workerBStarted.TotalSeconds:0.0} s; every feed held the post {recovered.TotalSeconds:0.0} s after the kill " +
            $"(the recovery time); the outbox row was done {drained.TotalSeconds:0.0} s after that, in generation " +
            $"{await deployment.ScalarAsync<int>("SELECT generation FROM outbox WHERE id = $1", outboxId)}");

        // Exactly once, and nothing else: each stored feed is the sentinel plus this one post.
        var feeds = new FeedStore(deployment.Redis, Options.Create(new FeedOptions()), Options.Create(new FanOutOptions()));
        var contents = await Task.WhenAll(followers.Select(feeds.GetAllAsync));
        var wrong = followers.Zip(contents).Where(f => f.Second is not [var only] || only != postId).ToList();
        Assert.True(wrong.Count == 0,
            $"{wrong.Count} feeds differ from [{postId}], e.g. feed:{{{wrong.FirstOrDefault().First}}} = [{string.Join(", ", wrong.FirstOrDefault().Second ?? [])}]");
        var cardinalities = await Task.WhenAll(followers.Select(f => deployment.RedisDb.SortedSetLengthAsync(FeedStore.Key(f))));
        Assert.All(cardinalities, c => Assert.Equal(2, c)); // the sentinel and the post
        Assert.True(await deployment.ScalarAsync<bool>("SELECT completed_at IS NOT NULL FROM outbox WHERE id = $1", outboxId));
        Assert.Equal((short)1, await deployment.ScalarAsync<short>("SELECT delivery FROM posts WHERE id = $1", postId));
    }

    [Fact]
    public async Task An_invisibility_timeout_under_a_second_stops_the_process_with_a_message()
    {
        var (exitCode, log) = await ServiceProcess.RunAsync([], new Dictionary<string, string>
        {
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            // Nothing listens there: should validation let it through, it would not touch anyone's data.
            ["ConnectionStrings:Postgres"] = "Host=127.0.0.1;Port=9;Database=none;Username=none",
            ["Redis:Configuration"] = "127.0.0.1:9",
            ["Auth:SigningKey"] = FeedApp.SigningKey,
            ["Service:InvisibilityTimeout"] = "00:00:00.500",
        }, TimeSpan.FromSeconds(60));

        Assert.NotEqual(0, exitCode);
        Assert.Contains("Service:InvisibilityTimeout must be at least one second", log);
    }

    /// <summary>
    /// One author and 20,000 followers who read their feed a moment ago (active), bulk-inserted with
    /// consistent counts. Each follower's feed is built in Redis as their read built it: the sentinel
    /// alone, since they follow nobody else and the author has not posted yet.
    /// </summary>
    private static async Task<(long AuthorId, long[] Followers)> SeedAuthorWithActiveFollowersAsync(ProcessDeployment deployment)
    {
        var authorId = await deployment.ScalarAsync<long>(
            "INSERT INTO users (handle, handle_normalized, display_name, follower_count) VALUES ('author', 'author', 'Author', $1) RETURNING id",
            Followers);
        await deployment.ExecuteAsync(
            """
            WITH fans AS (
                INSERT INTO users (handle, handle_normalized, display_name, following_count, last_feed_read_at)
                SELECT 'fan' || n, 'fan' || n, 'Fan ' || n, 1, now() FROM generate_series(1, $2) n
                RETURNING id)
            INSERT INTO follows (follower_id, followee_id) SELECT id, $1 FROM fans
            """,
            authorId, Followers);
        var followers = await deployment.ScalarAsync<long[]>("SELECT array_agg(follower_id ORDER BY follower_id) FROM follows WHERE followee_id = $1", authorId);
        Assert.Equal(Followers, followers.Length);
        var feeds = new FeedStore(deployment.Redis, Options.Create(new FeedOptions()), Options.Create(new FanOutOptions()));
        var created = await Task.WhenAll(followers.Select(f => feeds.CreateIfMissingAsync(f, [])));
        Assert.All(created, Assert.True);
        return (authorId, followers);
    }

    private static async Task<long> PostAsync(ServiceProcess api, long authorId, string body)
    {
        using var client = api.CreateClient();
        var token = await client.PostAsJsonAsync("/v1/auth/dev-token", new { userId = authorId.ToString() });
        token.EnsureSuccessStatusCode();
        client.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        var created = await client.PostAsJsonAsync("/v1/posts", new { body });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        return long.Parse((await created.Content.ReadFromJsonAsync<PostDto>())!.Id);
    }

    /// <summary>Waits until the fan-out is planned.</summary>
    /// <returns>How many batches it was split into.</returns>
    private static async Task<int> WaitForPlanAsync(ProcessDeployment deployment, long outboxId)
    {
        for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(20))
        {
            if (await deployment.ScalarAsync<object>("SELECT batches_total FROM outbox WHERE id = $1", outboxId) is int total)
            {
                return total;
            }
        }
        throw new TimeoutException("The fan-out was not planned within 60 s.");
    }

    /// <summary>Waits until at least <paramref name="count"/> batches of the fan-out are done.</summary>
    /// <returns>How many were done.</returns>
    private static async Task<long> WaitForBatchesDoneAsync(ProcessDeployment deployment, long outboxId, int count)
    {
        for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(10))
        {
            var done = await deployment.ScalarAsync<long>("SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1", outboxId);
            if (done >= count)
            {
                return done;
            }
        }
        throw new TimeoutException($"{count} fan-out batches were not done within 60 s.");
    }

    /// <summary>Waits until <paramref name="count"/> statements of the deployment's database wait for a lock.</summary>
    private static async Task WaitForStatementsWaitingOnLocksAsync(ProcessDeployment deployment, int count)
    {
        for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(10))
        {
            if (await deployment.ScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") >= count)
            {
                return;
            }
        }
        throw new TimeoutException($"{count} fan-out batches never waited for the follows table.");
    }

    /// <summary>Fan-out jobs fetched by a worker and not yet finished (Hangfire's fetched list; only the dead worker's right after the kill).</summary>
    private static long FetchedFanOutJobs(ProcessDeployment deployment)
    {
        var storage = new RedisStorage(deployment.Redis, new RedisStorageOptions { Db = deployment.RedisDb.Database });
        return storage.GetMonitoringApi().FetchedCount("fanout");
    }

    /// <summary>Polls the followers' feeds (pipelined, only those still lacking the post) until all hold it.</summary>
    private static async Task WaitUntilEveryFeedHoldsAsync(ProcessDeployment deployment, long[] followers, long postId, TimeSpan limit)
    {
        var waited = Stopwatch.StartNew();
        IReadOnlyList<long> lacking = followers;
        while ((lacking = await FollowersLackingAsync(deployment, lacking, postId)).Count > 0)
        {
            Assert.True(waited.Elapsed < limit, $"{lacking.Count} followers still lack the post after {limit}");
            await Task.Delay(100);
        }
    }

    private static async Task<IReadOnlyList<long>> FollowersLackingAsync(ProcessDeployment deployment, IReadOnlyList<long> followers, long postId)
    {
        var db = deployment.RedisDb;
        var scores = await Task.WhenAll(followers.Select(f => db.SortedSetScoreAsync(FeedStore.Key(f), postId)));
        return [.. followers.Where((_, i) => scores[i] is null)];
    }
}
