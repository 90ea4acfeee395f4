using Feed.LoadTests.Cli;

namespace Feed.LoadTests.Targets;

/// <summary>Options of the <c>targets</c> command.</summary>
public sealed record TargetSettings
{
    public const int DefaultRounds = 3;
    public const int DefaultDurationSeconds = 5;
    public const int DefaultWarmUpSeconds = 1;
    public const int DefaultConcurrency = 32;
    public const int DefaultCelebrityThreshold = 12_000;
    public const int DefaultWriters = 3_000;

    public required Endpoints Endpoints { get; init; }

    /// <summary>Paired rounds per comparison (A B, then B A, …); the report quotes medians.</summary>
    public required int Rounds { get; init; }

    /// <summary>Measured time of each capacity run.</summary>
    public required TimeSpan Duration { get; init; }

    public required TimeSpan WarmUp { get; init; }

    /// <summary>Loops of the closed-model capacity runs, and pgbench's clients.</summary>
    public required int Concurrency { get; init; }

    /// <summary>The service's <c>FanOut:CelebrityThreshold</c>: the fixture's celebrities get this many followers.</summary>
    public required int CelebrityThreshold { get; init; }

    /// <summary>Authors without followers for the write-capacity runs (each has the service's per-user write limit).</summary>
    public required int Writers { get; init; }

    /// <summary>A run of seconds that only proves every measurement still works (CI): tiny fixture, no verdicts.</summary>
    public required bool Smoke { get; init; }

    public required string ResultsDirectory { get; init; }

    /// <summary>Which measurements to run (all by default).</summary>
    public required IReadOnlySet<string> Only { get; init; }

    /// <summary>Keep the fixture of an earlier run when it matches (feeds are warmed again either way).</summary>
    public required bool ReuseFixture { get; init; }

    public static readonly string[] Parts = ["reads", "read-cost", "writes", "fanout", "lag", "big-author", "fanout-cost", "memory"];

    public bool Runs(string part) => Only.Contains(part);

    public static string Help => $"""
        Feed.LoadTests targets [options]

        Measures the performance targets of load-tests/README.md ("Targets"), each against a baseline
        measured in the same run: the trivial endpoint, pgbench running the same post + outbox insert,
        redis-benchmark's pipelined ZADD. Loads its own fixture (users named tgt_*, replaced on every
        run) next to whatever the database holds. Needs pgbench and redis-benchmark on the PATH and the
        service running (Development, so dev tokens work) with FanOut:CelebrityThreshold equal to
        --celebrity-threshold.

        Options:
          --rounds N                paired rounds per comparison          ({DefaultRounds})
          --duration D              measured time of each capacity run    ({DefaultDurationSeconds}s)
          --warmup D                warm-up before each run               ({DefaultWarmUpSeconds}s)
          --concurrency N           closed-model loops and pgbench clients ({DefaultConcurrency})
          --celebrity-threshold N   the service's celebrity threshold     ({DefaultCelebrityThreshold})
          --writers N               authors used by the write runs        ({DefaultWriters})
          --only PART[,PART]        run only these: {string.Join(", ", Parts)}
          --reuse-fixture           keep a matching fixture from an earlier run instead of reloading it
          --smoke                   tiny fixture and runs: checks the harness, reports no verdicts
          --results DIR             where result folders go               (load-tests/results)
        {Endpoints.Help}
        """;

    public static TargetSettings From(CommandLine cl)
    {
        var smoke = cl.Flag("smoke");
        var only = cl.String("only", string.Join(',', Parts)).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in only.Where(p => !Parts.Contains(p)))
        {
            throw new UsageException($"Unknown part '{part}'; parts are: {string.Join(", ", Parts)}.");
        }
        var second = TimeSpan.FromSeconds(1);
        return new TargetSettings
        {
            Endpoints = Endpoints.From(cl),
            Rounds = cl.Int("rounds", smoke ? 1 : DefaultRounds, 1, 100),
            Duration = cl.Duration("duration", smoke ? second : TimeSpan.FromSeconds(DefaultDurationSeconds), TimeSpan.FromMilliseconds(500), TimeSpan.FromHours(1)),
            WarmUp = cl.Duration("warmup", smoke ? TimeSpan.FromMilliseconds(500) : TimeSpan.FromSeconds(DefaultWarmUpSeconds), TimeSpan.Zero, TimeSpan.FromHours(1)),
            Concurrency = cl.Int("concurrency", smoke ? 4 : DefaultConcurrency, 1, 1_000),
            CelebrityThreshold = cl.Int("celebrity-threshold", DefaultCelebrityThreshold, 10, 10_000_000),
            Writers = cl.Int("writers", smoke ? 50 : DefaultWriters, 1, 1_000_000),
            Smoke = smoke,
            Only = only.ToHashSet(),
            ReuseFixture = cl.Flag("reuse-fixture"),
            ResultsDirectory = cl.String("results", Scenarios.RunSettings.DefaultResultsDirectory()),
        };
    }
}
