using System.Globalization;
using Feed.LoadTests.Cli;
using Feed.LoadTests.Scenarios;
using Feed.LoadTests.Seeding;
using Feed.LoadTests.Targets;
using Feed.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Feed.Tests.Performance;

/// <summary>
/// The load driver cannot rot: a seconds-long run of every standard scenario and of every target
/// measurement (with its pgbench and redis-benchmark baselines) against a real service process.
/// It checks that each one ran and reported without a failed request; the figures themselves are
/// meaningless at this size and are not judged (a test never asserts on speed).
/// </summary>
[Collection(ProcessesCollection.Name)]
public sealed class LoadDriverSmokeTests(ITestOutputHelper output)
{
    private const int RedisDatabase = 8;
    private const int CelebrityThreshold = 60;

    [Fact]
    public async Task Every_scenario_and_every_target_measurement_runs_and_reports()
    {
        await using var deployment = await ProcessDeployment.CreateAsync(RedisDatabase, new Dictionary<string, string>
        {
            ["FanOut:CelebrityThreshold"] = CelebrityThreshold.ToString(CultureInfo.InvariantCulture),
            ["FanOut:CelebrityLowerMark"] = (CelebrityThreshold * 9 / 10).ToString(CultureInfo.InvariantCulture),
        }, output);
        var service = await deployment.StartAsync("service", new Dictionary<string, string>());
        var endpoints = new Endpoints([service.BaseAddress], deployment.ConnectionString, deployment.RedisConfiguration);
        var results = Path.Combine(Path.GetTempPath(), $"feed-smoke-{Guid.NewGuid():N}");
        var log = new StringWriter();
        try
        {
            await Seeder.RunAsync(Seed(endpoints), log, CancellationToken.None);

            var scenarios = await ScenarioSession.RunAsync(Run(endpoints, results), "smoke run --standard", log, CancellationToken.None);
            Assert.Equal(ScenarioCatalog.Standard, scenarios.Select(s => s.Name));
            foreach (var scenario in scenarios)
            {
                Assert.True(scenario.SkippedReason is null, $"{scenario.Name} was skipped: {scenario.SkippedReason}");
                Assert.True(scenario.Rows.Count > 0 && scenario.Rows[0].Count > 0, $"{scenario.Name} recorded no request");
                foreach (var row in scenario.Rows)
                {
                    Assert.True(row.FailureCount == 0, $"{scenario.Name} / {row.Name}: {string.Join(", ", row.Failures.Select(f => $"{f.Value} × {f.Key}"))}");
                }
            }

            var targets = await TargetSession.RunAsync(Targets(endpoints, results), "smoke targets --smoke", log, CancellationToken.None);
            // Every measurement reported: reads (2), read cost, writes (2), fan-out (2), lag, big author, fan-out cost (2), memory.
            Assert.Equal(12, targets.Count);
            Assert.All(targets, t => Assert.False(string.IsNullOrWhiteSpace(t.Measured), t.Target));
            Assert.All(targets, t => Assert.Null(t.Met));
            Assert.Single(Directory.GetFiles(results, "targets.md", SearchOption.AllDirectories));
        }
        finally
        {
            output.WriteLine(log.ToString());
            if (Directory.Exists(results))
            {
                Directory.Delete(results, recursive: true);
            }
        }
    }

    private static SeedSettings Seed(Endpoints endpoints) => new()
    {
        Endpoints = endpoints,
        Users = 400,
        Celebrities = 1,
        CelebrityThreshold = CelebrityThreshold,
        FollowingMedian = 15,
        FollowingMax = 50,
        ZipfExponent = SeedSettings.DefaultZipfExponent,
        PostsPerUser = 2,
        // As run-standard.sh seeds: --reset must cope with every table of the full schema (digests
        // reference users, and Postgres refuses to truncate a referenced table alone).
        Reset = true,
        Warm = 1,
        WarmConcurrency = 8,
        RandomSeed = 11,
    };

    private static RunSettings Run(Endpoints endpoints, string results) => new()
    {
        Endpoints = endpoints,
        Scenarios = ScenarioCatalog.Standard,
        Closed = false,
        Concurrency = 4,
        Rate = 60,
        PostRate = 10,
        Duration = TimeSpan.FromSeconds(2),
        WarmUp = TimeSpan.FromMilliseconds(500),
        Connections = 16,
        Timeout = TimeSpan.FromSeconds(30),
        MaxInFlight = RunSettings.DefaultMaxInFlight,
        ActiveUsers = 200,
        FeedLimit = RunSettings.DefaultFeedLimit,
        LagProbesPerSecond = 5,
        LagFollowers = 3,
        LagTimeout = TimeSpan.FromSeconds(30),
        FanOutPosts = 20,
        FanOutRate = 20,
        FanOutFollowers = 20,
        DrainTimeout = TimeSpan.FromSeconds(60),
        SettleTimeout = TimeSpan.FromSeconds(30),
        RandomSeed = 11,
        ResultsDirectory = results,
    };

    private static TargetSettings Targets(Endpoints endpoints, string results) => new()
    {
        Endpoints = endpoints,
        Rounds = 1,
        Duration = TimeSpan.FromSeconds(1),
        WarmUp = TimeSpan.FromMilliseconds(300),
        Concurrency = 4,
        CelebrityThreshold = CelebrityThreshold,
        Writers = 50,
        Smoke = true,
        ResultsDirectory = results,
        Only = TargetSettings.Parts.ToHashSet(),
        ReuseFixture = false,
    };
}
