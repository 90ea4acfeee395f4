using System.Diagnostics;
using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Seeding;

/// <summary>
/// Reads users' home feeds once through the API, so that the service builds them in Redis from
/// Postgres (a "warm" feed). Fan-out only adds to feeds that exist, so a cold follower receives
/// nothing until their first read rebuilds their feed.
/// </summary>
public sealed class FeedWarmer(FeedApiClient api, TextWriter console)
{
    public async Task WarmAsync(IReadOnlyList<long> userIds, int concurrency, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        var done = 0;
        var failed = 0;
        string? firstFailure = null;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var progress = ReportAsync(stop.Token);
        await Parallel.ForEachAsync(userIds, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (userId, token) =>
            {
                try
                {
                    await api.GetFeedAsync(await api.CreateDevTokenAsync(userId, token), 20, token);
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    Interlocked.Increment(ref failed);
                    Interlocked.CompareExchange(ref firstFailure, $"{ErrorReasons.Describe(ex)}: {ex.Message}", null);
                }
                Interlocked.Increment(ref done);
            });
        await stop.CancelAsync();
        await progress;
        console.WriteLine($"Warmed {Format.Count(done - failed)} feeds in {watch.Elapsed.TotalSeconds:0.0} s ({(done - failed) / watch.Elapsed.TotalSeconds:0}/s)");
        if (failed > 0)
        {
            throw new InvalidOperationException($"{failed} of {userIds.Count} feed reads failed while warming; the first: {firstFailure}");
        }

        async Task ReportAsync(CancellationToken token)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
            try
            {
                while (await timer.WaitForNextTickAsync(token))
                {
                    var count = Volatile.Read(ref done);
                    console.WriteLine($"  warming: {Format.Count(count)}/{Format.Count(userIds.Count)} ({count / watch.Elapsed.TotalSeconds:0}/s)");
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
