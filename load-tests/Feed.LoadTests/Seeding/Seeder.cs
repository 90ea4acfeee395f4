using System.Diagnostics;
using Feed.LoadTests.Driver;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Seeding;

/// <summary>The <c>seed</c> command: generate, load, verify, clear derived state, warm.</summary>
public static class Seeder
{
    public static async Task RunAsync(SeedSettings settings, TextWriter console, CancellationToken ct)
    {
        if (settings.Celebrities > 0 && settings.Users - 1 < settings.CelebrityThreshold)
        {
            throw new InvalidOperationException(
                $"{settings.Users} users cannot give a celebrity {settings.CelebrityThreshold} followers: seed more users, or lower --celebrity-threshold " +
                "together with the service's FanOut:CelebrityThreshold and FanOut:CelebrityLowerMark, or pass --celebrities 0.");
        }
        if (settings.Celebrities > settings.Users / 2)
        {
            throw new InvalidOperationException("--celebrities must be at most half of --users.");
        }

        using var api = new FeedApiClient(settings.Endpoints.ServiceUrls, settings.WarmConcurrency, TimeSpan.FromSeconds(60));
        if (settings.Warm > 0)
        {
            await api.EnsureReachableAsync("Warming reads feeds through the service: start it (scripts/run.sh) or pass --warm 0.", ct);
        }

        var watch = Stopwatch.StartNew();
        console.WriteLine($"Generating {Format.Count(settings.Users)} users (random seed {settings.RandomSeed})");
        var plan = SeedPlan.Create(settings, new Random(settings.RandomSeed));
        console.WriteLine(plan.Describe());
        console.WriteLine($"Generated in {watch.Elapsed.TotalSeconds:0.0} s");

        await using var postgres = NpgsqlDataSource.Create(settings.Endpoints.Postgres);
        var loader = new GraphLoader(postgres, console);
        var userIds = await loader.LoadAsync(plan, settings.Reset, ct);
        await loader.VerifyAsync(settings.CelebrityThreshold, ct);

        if (settings.Reset)
        {
            await using var redis = await ConnectionMultiplexer.ConnectAsync(settings.Endpoints.Redis);
            var deleted = await DerivedStateCleaner.ClearAsync(redis);
            console.WriteLine($"Deleted {Format.Count(deleted)} feed, timeline, post-cache and rate-limit keys from Redis");
        }

        if (settings.Warm > 0)
        {
            var warm = userIds.ToArray();
            new Random(settings.RandomSeed).Shuffle(warm);
            var count = (int)Math.Round(warm.Length * settings.Warm);
            console.WriteLine($"Warming {Format.Count(count)} feeds ({settings.Warm:P0} of users) through {settings.Endpoints.Describe()}");
            await new FeedWarmer(api, console).WarmAsync(warm[..count], settings.WarmConcurrency, ct);
        }
        else
        {
            console.WriteLine("Feeds left cold (--warm 0): each user's first read rebuilds theirs from Postgres.");
        }
        console.WriteLine($"Seeded in {watch.Elapsed.TotalSeconds:0.0} s");
    }
}
