using Feed.LoadTests.Cli;

namespace Feed.LoadTests.Seeding;

/// <summary>Options of the <c>seed</c> command.</summary>
public sealed record SeedSettings
{
    public const int DefaultUsers = 100_000;
    public const int DefaultCelebrities = 5;
    public const int DefaultCelebrityThreshold = 10_000;
    public const int DefaultFollowingMedian = 120;
    public const int DefaultFollowingMax = 1_000;
    public const double DefaultZipfExponent = 1.0;
    public const double DefaultPostsPerUser = 5;
    public const double DefaultWarm = 1.0;
    public const int DefaultWarmConcurrency = 16;
    public const int DefaultRandomSeed = 42;

    public required Endpoints Endpoints { get; init; }

    public required int Users { get; init; }

    public required int Celebrities { get; init; }

    /// <summary>Must equal the service's <c>FanOut:CelebrityThreshold</c>, or its reconciliation job will undo the seeded status.</summary>
    public required int CelebrityThreshold { get; init; }

    public required int FollowingMedian { get; init; }

    public required int FollowingMax { get; init; }

    public required double ZipfExponent { get; init; }

    public required double PostsPerUser { get; init; }

    public required bool Reset { get; init; }

    /// <summary>Fraction of users whose feed is read once after seeding (0: leave every feed cold).</summary>
    public required double Warm { get; init; }

    public required int WarmConcurrency { get; init; }

    public required int RandomSeed { get; init; }

    public static string Help => $"""
        Usage: Feed.LoadTests seed [options]

        Bulk-loads a social graph straight into Postgres with binary COPY, in one transaction:
        users whose follower counts follow a power law (Zipf), a few celebrities above the
        threshold, log-normal following counts, and some posts each; counts and celebrity flags
        match the follows exactly (checked afterwards). Then reads some users' feeds once through
        the API so that they are built in Redis ("warm"). Refuses to load into a database that has
        data unless --reset is given.

        Graph:
          --users N                 users                                           ({DefaultUsers})
          --celebrities N           accounts above the celebrity threshold          ({DefaultCelebrities})
          --celebrity-threshold N   the service's FanOut:CelebrityThreshold         ({DefaultCelebrityThreshold})
                                    (ordinary accounts stay below 80 % of it)
          --following-median N      median accounts a user follows (log-normal)     ({DefaultFollowingMedian})
          --following-max N         most accounts a user follows                    ({DefaultFollowingMax})
          --zipf-exponent X         follower counts ∝ 1 / rank^X                    ({DefaultZipfExponent})
          --posts-per-user X        mean initial posts per user (last 7 days)       ({DefaultPostsPerUser})
          --random-seed N           same seed, same graph                           ({DefaultRandomSeed})

        Data already there:
          --reset                   first empty users, follows, posts, outbox, fan_out_batches and
                                    idempotency_keys, and delete feed, timeline, post-cache and
                                    rate-limit keys from the service's Redis

        Warming (needs the service running in Development):
          --warm FRACTION           share of users whose feed is read once; 0 = cold ({DefaultWarm})
          --warm-concurrency N      concurrent reads while warming                  ({DefaultWarmConcurrency})
        {Endpoints.Help}
        """;

    public static SeedSettings From(CommandLine cl) => new()
    {
        Endpoints = Endpoints.From(cl),
        Users = cl.Int("users", DefaultUsers, 2, 50_000_000),
        Celebrities = cl.Int("celebrities", DefaultCelebrities, 0, 1_000),
        CelebrityThreshold = cl.Int("celebrity-threshold", DefaultCelebrityThreshold, 2, int.MaxValue),
        FollowingMedian = cl.Int("following-median", DefaultFollowingMedian, 1, 1_000_000),
        FollowingMax = cl.Int("following-max", DefaultFollowingMax, 1, 10_000_000),
        ZipfExponent = cl.Double("zipf-exponent", DefaultZipfExponent, 0.1, 4),
        PostsPerUser = cl.Double("posts-per-user", DefaultPostsPerUser, 0, 1_000),
        Reset = cl.Flag("reset"),
        Warm = cl.Double("warm", DefaultWarm, 0, 1),
        WarmConcurrency = cl.Int("warm-concurrency", DefaultWarmConcurrency, 1, 1_000),
        RandomSeed = cl.Int("random-seed", DefaultRandomSeed, int.MinValue, int.MaxValue),
    };
}
