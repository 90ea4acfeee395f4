using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Feed.Feeds;
using Feed.LoadTests.Cli;
using Feed.LoadTests.Scenarios;
using Feed.LoadTests.Seeding;
using Feed.Tests.Infrastructure;
using Hangfire.Redis.StackExchange;
using Xunit.Abstractions;

namespace Feed.Tests.Faults;

/// <summary>
/// Two API processes and two worker processes share one Postgres and one Redis, as on two
/// machines behind a load balancer, and the load driver's read-mix (reads, posts, follows,
/// unfollows) runs against both APIs in turn. Nothing may fail, nothing may be lost, and no job
/// may run twice: every job the outbox and the fan-out planned ran exactly once, on one worker
/// or the other, and both workers took part.
/// </summary>
[Collection(ProcessesCollection.Name)]
public sealed partial class ScaleOutTests(ITestOutputHelper output)
{
    private const int RedisDatabase = 6;
    private const int Users = 1_000;
    private const int CelebrityThreshold = 300;
    private const int FeedCap = 800;

    private const string GroundTruthSql = """
        SELECT coalesce(array_agg(id ORDER BY id DESC), '{}') FROM (
            SELECT p.id FROM posts p
            WHERE p.deleted_at IS NULL
              AND (p.author_id = $1 OR p.author_id IN (SELECT followee_id FROM follows WHERE follower_id = $1))
            ORDER BY p.id DESC LIMIT $2) t
        """;

    // Every (follower, post) pair a pushed post of the run owes a stored feed, from the final graph.
    private const string OwedPushesSql = """
        SELECT f.follower_id, p.id FROM posts p JOIN follows f ON f.followee_id = p.author_id
        WHERE p.id > $1 AND p.delivery = 1 AND p.deleted_at IS NULL
        """;

    private const string PlannedJobsSql = """
        SELECT
            (SELECT count(*) FROM outbox WHERE kind IN (1, 2)),
            (SELECT coalesce(sum(batches_total), 0) FROM outbox WHERE kind IN (1, 2)),
            (SELECT count(*) FROM outbox WHERE kind = 3),
            (SELECT count(*) FROM outbox WHERE kind = 4),
            (SELECT count(*) FROM outbox WHERE attempts > 0 OR generation > 1)
        """;

    [Fact]
    public async Task Two_api_and_two_worker_processes_under_load_lose_nothing_and_run_every_job_once()
    {
        var settings = new Dictionary<string, string>
        {
            ["FanOut:CelebrityThreshold"] = CelebrityThreshold.ToString(CultureInfo.InvariantCulture),
            ["FanOut:CelebrityLowerMark"] = (CelebrityThreshold * 9 / 10).ToString(CultureInfo.InvariantCulture),
            // Small batches, so that one post's fan-out is shared by both workers.
            ["FanOut:BatchSize"] = "50",
            ["Service:Workers:fanout"] = "4",
        };
        await using var deployment = await ProcessDeployment.CreateAsync(RedisDatabase, settings, output);
        var processes = await Task.WhenAll(
            deployment.StartAsync("api 1", new Dictionary<string, string> { ["Service:Roles"] = "api" }),
            deployment.StartAsync("api 2", new Dictionary<string, string> { ["Service:Roles"] = "api" }),
            deployment.StartAsync("worker 1", new Dictionary<string, string> { ["Service:Roles"] = "worker" }),
            deployment.StartAsync("worker 2", new Dictionary<string, string> { ["Service:Roles"] = "worker" }));
        var (apis, workers) = (processes[..2], processes[2..]);
        var endpoints = new Endpoints([.. apis.Select(a => a.BaseAddress)], deployment.ConnectionString, deployment.RedisConfiguration);
        var driverLog = new StringWriter();
        var results = Path.Combine(Path.GetTempPath(), $"feed-scale-out-{Guid.NewGuid():N}");
        try
        {
            // Arrange: a graph with a celebrity, every feed built through the APIs (warm), as the driver seeds it.
            await Seeder.RunAsync(Seed(endpoints), driverLog, CancellationToken.None);
            var lastSeededPost = await deployment.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM posts");

            // Act: the load driver's everyday mix, against both APIs in turn.
            var run = await ScenarioSession.RunAsync(Load(endpoints, results), "ScaleOutTests read-mix", driverLog, CancellationToken.None);
            var drained = await deployment.DrainAsync(TimeSpan.FromSeconds(120));
            output.WriteLine($"outbox drained {drained.TotalSeconds:0.0} s after the load");

            // No request failed, and every sampled post reached the sampled followers (fan-out lag row).
            var rows = run.Single().Rows;
            foreach (var row in rows)
            {
                Assert.True(row.FailureCount == 0, $"{row.Name}: {string.Join(", ", row.Failures.Select(f => $"{f.Value} × {f.Key}"))}");
            }
            var posts = await deployment.ScalarAsync<long>("SELECT count(*) FROM posts WHERE id > $1", lastSeededPost);
            Assert.True(posts >= 50, $"only {posts} posts were made under load");

            await AssertEveryPushReachedItsFeedAsync(deployment, lastSeededPost);
            await AssertEveryFeedReadEqualsTheGroundTruthAsync(deployment, apis);
            await AssertEveryPlannedJobRanOnceOnOneWorkerOrTheOtherAsync(deployment, workers);
            foreach (var api in apis)
            {
                Assert.True(Sum(await ScrapeAsync(api), "http_server_request_duration_seconds_count", "http_route=\"/v1/feed/\"") > 0,
                    $"{api.Name} served no feed reads");
            }
        }
        finally
        {
            output.WriteLine(driverLog.ToString());
            if (Directory.Exists(results))
            {
                Directory.Delete(results, recursive: true);
            }
        }
    }

    private static SeedSettings Seed(Endpoints endpoints) => new()
    {
        Endpoints = endpoints,
        Users = Users,
        Celebrities = 1,
        CelebrityThreshold = CelebrityThreshold,
        FollowingMedian = 20,
        FollowingMax = 150,
        ZipfExponent = SeedSettings.DefaultZipfExponent,
        PostsPerUser = 2,
        Reset = false,
        Warm = 1,
        WarmConcurrency = 8,
        RandomSeed = 7,
    };

    private static RunSettings Load(Endpoints endpoints, string results) => new()
    {
        Endpoints = endpoints,
        Scenarios = ["read-mix"],
        Closed = false,
        Concurrency = RunSettings.DefaultConcurrency,
        Rate = 150,
        PostRate = RunSettings.DefaultPostRate,
        Duration = TimeSpan.FromSeconds(20),
        WarmUp = TimeSpan.FromSeconds(3),
        Connections = 32,
        Timeout = TimeSpan.FromSeconds(30),
        MaxInFlight = RunSettings.DefaultMaxInFlight,
        ActiveUsers = 500,
        FeedLimit = RunSettings.DefaultFeedLimit,
        LagProbesPerSecond = 5,
        LagFollowers = 3,
        LagTimeout = TimeSpan.FromSeconds(30),
        FanOutPosts = RunSettings.DefaultFanOutPosts,
        FanOutRate = RunSettings.DefaultFanOutRate,
        FanOutFollowers = RunSettings.DefaultFanOutFollowers,
        DrainTimeout = TimeSpan.FromSeconds(60),
        SettleTimeout = TimeSpan.FromSeconds(30),
        RandomSeed = 7,
        ResultsDirectory = results,
    };

    /// <summary>Every pushed post of the run is in the stored feed of everyone who follows its author at the end.</summary>
    private async Task AssertEveryPushReachedItsFeedAsync(ProcessDeployment deployment, long lastSeededPost)
    {
        var owed = new List<(long Follower, long Post)>();
        await using (var cmd = deployment.Postgres.CreateCommand(OwedPushesSql))
        {
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter<long> { TypedValue = lastSeededPost });
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                owed.Add((reader.GetInt64(0), reader.GetInt64(1)));
            }
        }
        var db = deployment.RedisDb;
        var scores = await Task.WhenAll(owed.Select(o => db.SortedSetScoreAsync(FeedStore.Key(o.Follower), o.Post)));
        var missing = owed.Where((_, i) => scores[i] is null).ToList();
        output.WriteLine($"{owed.Count} feed entries owed by pushed posts of the run; {missing.Count} missing");
        Assert.True(owed.Count > 0, "no post of the run was pushed");
        Assert.True(missing.Count == 0,
            $"{missing.Count} feed entries missing, e.g. post {missing.FirstOrDefault().Post} in feed:{{{missing.FirstOrDefault().Follower}}}");
    }

    /// <summary>Every user's whole feed, read page by page through either API, equals the SQL ground truth.</summary>
    private async Task AssertEveryFeedReadEqualsTheGroundTruthAsync(ProcessDeployment deployment, ServiceProcess[] apis)
    {
        var users = await deployment.ScalarAsync<long[]>("SELECT array_agg(id) FROM users");
        var clients = apis.Select(a => a.CreateClient()).ToArray();
        var mismatches = 0;
        string? first = null;
        var items = 0L;
        await Parallel.ForEachAsync(users.Select((id, i) => (id, client: clients[i % clients.Length])), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (user, ct) =>
            {
                var expected = await deployment.ScalarAsync<long[]>(GroundTruthSql, user.id, FeedCap);
                var actual = await WholeFeedAsync(user.client, user.id);
                Interlocked.Add(ref items, actual.Count);
                if (!expected.SequenceEqual(actual))
                {
                    Interlocked.Increment(ref mismatches);
                    Interlocked.CompareExchange(ref first,
                        $"user {user.id}: expected [{string.Join(", ", expected)}], read [{string.Join(", ", actual)}]", null);
                }
            });
        output.WriteLine($"{users.Length} feeds read through both APIs ({items} items); {mismatches} differ from the ground truth");
        Assert.True(mismatches == 0, $"{mismatches} feeds differ from the ground truth, e.g. {first}");
    }

    /// <summary>
    /// Jobs finished on each worker (its <c>/metrics</c>) add up to exactly the jobs the outbox rows and
    /// fan-out plans called for: nothing lost, nothing run twice, nothing failed; no outbox row needed
    /// the relay; and both workers did some of it.
    /// </summary>
    private async Task AssertEveryPlannedJobRanOnceOnOneWorkerOrTheOtherAsync(ProcessDeployment deployment, ServiceProcess[] workers)
    {
        long postJobs, batchJobs, backfillJobs, cleanupJobs, redelivered;
        await using (var cmd = deployment.Postgres.CreateCommand(PlannedJobsSql))
        {
            await using var reader = await cmd.ExecuteReaderAsync();
            await reader.ReadAsync();
            (postJobs, batchJobs, backfillJobs, cleanupJobs, redelivered) =
                (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetInt64(4));
        }
        var metrics = await Task.WhenAll(workers.Select(ScrapeAsync));
        long Ran(string job, string outcome = "succeeded") =>
            metrics.Sum(m => Sum(m, "feed_jobs_total", $"job=\"{job}\"", $"outcome=\"{outcome}\""));
        for (var i = 0; i < workers.Length; i++)
        {
            output.WriteLine($"{workers[i].Name}: {Sum(metrics[i], "feed_jobs_total", "outcome=\"succeeded\"")} jobs succeeded, " +
                $"{Sum(metrics[i], "feed_jobs_total", "job=\"FanOutBatchJob.RunAsync\"")} of them fan-out batches");
        }
        output.WriteLine($"planned: {postJobs} post fan-outs, {batchJobs} batches, {backfillJobs} follow backfills, {cleanupJobs} unfollow clean-ups");

        Assert.Equal(0, Sum(metrics.SelectMany(m => m.Split('\n')), "feed_jobs_total", "outcome=\"failed\""));
        Assert.Equal(0L, new RedisStorage(deployment.Redis, new RedisStorageOptions { Db = deployment.RedisDb.Database }).GetMonitoringApi().FailedCount());
        Assert.Equal(0L, redelivered);
        // Posts that piled up share a job (FanOutPostJob.RunManyAsync): count the posts' fan-outs run.
        Assert.Equal(postJobs, metrics.Sum(m => Sum(m, "feed_fanout_post_runs_total")));
        Assert.Equal(batchJobs, Ran("FanOutBatchJob.RunAsync"));
        Assert.Equal(backfillJobs, Ran("FollowBackfillJob.RunAsync"));
        Assert.Equal(cleanupJobs, Ran("UnfollowCleanupJob.RunAsync"));
        Assert.All(metrics, m => Assert.True(Sum(m, "feed_jobs_total", "job=\"FanOutBatchJob.RunAsync\"") > 0, "a worker ran no fan-out batch"));
    }

    private static async Task<List<long>> WholeFeedAsync(HttpClient client, long userId)
    {
        var token = await client.PostAsJsonAsync("/v1/auth/dev-token", new { userId = userId.ToString(CultureInfo.InvariantCulture) });
        token.EnsureSuccessStatusCode();
        var bearer = new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        var ids = new List<long>();
        string? cursor = null;
        do
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/feed?limit=100" + (cursor is null ? "" : $"&before={cursor}"));
            request.Headers.Authorization = bearer;
            using var response = await client.SendAsync(request);
            response.EnsureSuccessStatusCode();
            var page = (await response.Content.ReadFromJsonAsync<PageDto>())!;
            ids.AddRange(page.Items.Select(p => long.Parse(p.Id, CultureInfo.InvariantCulture)));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return ids;
    }

    private static async Task<string> ScrapeAsync(ServiceProcess process)
    {
        using var client = process.CreateClient();
        return await client.GetStringAsync("/metrics");
    }

    /// <summary>The sum of a Prometheus metric's samples whose labels contain every one of <paramref name="labels"/>.</summary>
    private static long Sum(string metrics, string name, params string[] labels) => Sum(metrics.Split('\n'), name, labels);

    private static long Sum(IEnumerable<string> lines, string name, params string[] labels) => (long)lines
        .Select(line => Sample().Match(line))
        .Where(m => m.Success && m.Groups["name"].Value == name && labels.All(m.Groups["labels"].Value.Contains))
        .Sum(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture));

    [GeneratedRegex(@"^(?<name>[a-z_]+)\{(?<labels>[^}]*)\} (?<value>\S+)")]
    private static partial Regex Sample();
}
