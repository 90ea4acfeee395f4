using Feed.LoadTests.Cli;
using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Scenarios;

/// <summary>Options of the <c>run</c> command.</summary>
public sealed record RunSettings
{
    public const double DefaultRate = 500;
    public const double DefaultPostRate = 100;
    public const int DefaultConcurrency = 64;
    public const int DefaultDurationSeconds = 30;
    public const int DefaultWarmUpSeconds = 10;
    public const int DefaultConnections = 256;
    public const int DefaultTimeoutSeconds = 30;
    public const int DefaultMaxInFlight = 10_000;
    public const int DefaultActiveUsers = 2_000;
    public const int DefaultFeedLimit = 20;
    public const double DefaultLagProbes = 10;
    public const int DefaultLagFollowers = 3;
    public const int DefaultLagTimeoutSeconds = 30;
    public const int DefaultFanOutPosts = 300;
    public const double DefaultFanOutRate = 100;
    public const int DefaultFanOutFollowers = 1_000;
    public const int DefaultDrainTimeoutSeconds = 180;
    public const int DefaultSettleTimeoutSeconds = 60;
    public const int DefaultRandomSeed = 42;

    public required Endpoints Endpoints { get; init; }

    /// <summary>Scenario names, in the order they run.</summary>
    public required IReadOnlyList<string> Scenarios { get; init; }

    /// <summary>Closed model (<see cref="Concurrency"/> loops) instead of the open model.</summary>
    public required bool Closed { get; init; }

    public required int Concurrency { get; init; }

    /// <summary>Requests per second of read-mix, celebrity and trivial (open model).</summary>
    public required double Rate { get; init; }

    /// <summary>Posts per second of post-storm (open model).</summary>
    public required double PostRate { get; init; }

    public required TimeSpan Duration { get; init; }

    public required TimeSpan WarmUp { get; init; }

    public required int Connections { get; init; }

    public required TimeSpan Timeout { get; init; }

    public required int MaxInFlight { get; init; }

    /// <summary>Users the scenarios read and write as (tokens are minted for each).</summary>
    public required int ActiveUsers { get; init; }

    public required int FeedLimit { get; init; }

    /// <summary>Posts per second whose fan-out is followed into followers' feeds.</summary>
    public required double LagProbesPerSecond { get; init; }

    public required int LagFollowers { get; init; }

    public required TimeSpan LagTimeout { get; init; }

    public required int FanOutPosts { get; init; }

    public required double FanOutRate { get; init; }

    public required int FanOutFollowers { get; init; }

    public required TimeSpan DrainTimeout { get; init; }

    /// <summary>How long to wait for the previous scenario's fan-out backlog before the next scenario.</summary>
    public required TimeSpan SettleTimeout { get; init; }

    public required int RandomSeed { get; init; }

    public required string ResultsDirectory { get; init; }

    /// <summary>The load profile of a scenario whose open-model rate is <paramref name="rate"/>.</summary>
    public LoadProfile ProfileFor(double rate) =>
        new(Closed ? new ClosedModel(Concurrency) : new OpenModel(rate), WarmUp, Duration);

    public static string Help => $"""
        Usage: Feed.LoadTests run (--scenario NAME[,NAME...] | --standard) [options]

        Runs scenarios against a running service whose database was seeded with `seed`, prints a
        progress line every second and a results table, and writes summary.md and SVG charts into
        <results>/<timestamp>/.

        Scenarios:
        {ScenarioCatalog.Help}
          --standard              all of them, in the order above

        Load:
          --mode open|closed      open: start requests at a fixed rate, latency from the intended
                                  send time; closed: N loops back to back, to find capacity (open)
          --rate N                requests/s of trivial, read-mix and celebrity      ({DefaultRate})
          --post-rate N           posts/s of post-storm                              ({DefaultPostRate})
          --concurrency N         loops in the closed model                          ({DefaultConcurrency})
          --duration TIME         measured time per scenario, e.g. 30s, 2m           ({DefaultDurationSeconds}s)
          --warmup TIME           unrecorded load before it                          ({DefaultWarmUpSeconds}s)
          --connections N         HTTP connections to the service at most            ({DefaultConnections})
          --timeout TIME          per request                                        ({DefaultTimeoutSeconds}s)
          --max-in-flight N       outstanding requests before new ones are dropped   ({DefaultMaxInFlight})
          --active-users N        users the scenarios act as (a token each)          ({DefaultActiveUsers})
          --limit N               page size of feed reads                            ({DefaultFeedLimit})

        Fan-out lag (time from a post's 201 until it is in a follower's Redis feed):
          --lag-probes N          posts per second followed                          ({DefaultLagProbes})
          --lag-followers N       followers watched per followed post                ({DefaultLagFollowers})
          --lag-timeout TIME      give up on a sample after                          ({DefaultLagTimeoutSeconds}s)

        fanout-capacity:
          --fanout-posts N        posts to publish                                   ({DefaultFanOutPosts})
          --fanout-rate N         posts/s while publishing them                      ({DefaultFanOutRate})
          --fanout-followers N    pick authors with about this many followers        ({DefaultFanOutFollowers})
          --drain-timeout TIME    longest wait for the outbox to drain               ({DefaultDrainTimeoutSeconds}s)

        Other:
          --settle-timeout TIME   wait for the fan-out backlog between scenarios     ({DefaultSettleTimeoutSeconds}s)
          --random-seed N         choice of active users                             ({DefaultRandomSeed})
          --results DIR           where result folders go            (load-tests/results)
        {Endpoints.Help}
        """;

    public static RunSettings From(CommandLine cl)
    {
        var standard = cl.Flag("standard");
        var named = cl.String("scenario", "");
        if (standard == (named.Length > 0))
        {
            throw new UsageException("Give either --scenario NAME[,NAME...] or --standard.");
        }
        var scenarios = standard
            ? ScenarioCatalog.Standard
            : named.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in scenarios.Where(n => !ScenarioCatalog.Standard.Contains(n)))
        {
            throw new UsageException($"Unknown scenario '{name}'; scenarios are: {string.Join(", ", ScenarioCatalog.Standard)}.");
        }
        var mode = cl.String("mode", "open");
        if (mode is not ("open" or "closed"))
        {
            throw new UsageException($"--mode must be open or closed, not '{mode}'.");
        }
        var second = TimeSpan.FromSeconds(1);
        var hour = TimeSpan.FromHours(1);
        return new RunSettings
        {
            Endpoints = Endpoints.From(cl),
            Scenarios = scenarios,
            Closed = mode == "closed",
            Rate = cl.Double("rate", DefaultRate, 0.1, 100_000),
            PostRate = cl.Double("post-rate", DefaultPostRate, 0.1, 100_000),
            Concurrency = cl.Int("concurrency", DefaultConcurrency, 1, 10_000),
            Duration = cl.Duration("duration", TimeSpan.FromSeconds(DefaultDurationSeconds), second, hour),
            WarmUp = cl.Duration("warmup", TimeSpan.FromSeconds(DefaultWarmUpSeconds), TimeSpan.Zero, hour),
            Connections = cl.Int("connections", DefaultConnections, 1, 100_000),
            Timeout = cl.Duration("timeout", TimeSpan.FromSeconds(DefaultTimeoutSeconds), TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(10)),
            MaxInFlight = cl.Int("max-in-flight", DefaultMaxInFlight, 1, 1_000_000),
            ActiveUsers = cl.Int("active-users", DefaultActiveUsers, 1, 10_000_000),
            FeedLimit = cl.Int("limit", DefaultFeedLimit, 1, 100),
            LagProbesPerSecond = cl.Double("lag-probes", DefaultLagProbes, 0, 10_000),
            LagFollowers = cl.Int("lag-followers", DefaultLagFollowers, 1, 100),
            LagTimeout = cl.Duration("lag-timeout", TimeSpan.FromSeconds(DefaultLagTimeoutSeconds), second, hour),
            FanOutPosts = cl.Int("fanout-posts", DefaultFanOutPosts, 1, 10_000_000),
            FanOutRate = cl.Double("fanout-rate", DefaultFanOutRate, 0.1, 100_000),
            FanOutFollowers = cl.Int("fanout-followers", DefaultFanOutFollowers, 1, 100_000_000),
            DrainTimeout = cl.Duration("drain-timeout", TimeSpan.FromSeconds(DefaultDrainTimeoutSeconds), second, TimeSpan.FromHours(2)),
            SettleTimeout = cl.Duration("settle-timeout", TimeSpan.FromSeconds(DefaultSettleTimeoutSeconds), TimeSpan.Zero, hour),
            RandomSeed = cl.Int("random-seed", DefaultRandomSeed, int.MinValue, int.MaxValue),
            ResultsDirectory = cl.String("results", DefaultResultsDirectory()),
        };
    }

    /// <summary><c>load-tests/results</c> next to this project, found upward from the binary or the working directory.</summary>
    internal static string DefaultResultsDirectory()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (dir.Name == "load-tests")
                {
                    return Path.Combine(dir.FullName, "results");
                }
                if (Directory.Exists(Path.Combine(dir.FullName, "load-tests", "Feed.LoadTests")))
                {
                    return Path.Combine(dir.FullName, "load-tests", "results");
                }
            }
        }
        return Path.GetFullPath("results");
    }
}
