using System.Diagnostics;
using Feed.Feeds;
using Feed.Tests.Infrastructure;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Feed.Tests.Consistency;

/// <summary>
/// Measures convergence: the time from a post's 201 until every active follower's stored feed
/// holds it. Reported, not asserted (a test never asserts on wall-clock time); the test only
/// requires that every post converges.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class ConvergenceTests(FeedApp app, ITestOutputHelper output)
{
    private const int Posts = 50;

    [Fact]
    public async Task Every_active_follower_receives_every_post_and_the_time_it_takes_is_reported()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, FeedApp.CelebrityThreshold - 1);
        var keys = fans.Select(f => FeedStore.Key(f.Id)).ToArray();
        var samples = new List<double>(Posts);

        for (var i = 0; i < Posts; i++)
        {
            var post = await author.PostAsync($"converge {i}");
            var created = Stopwatch.GetTimestamp();
            var id = long.Parse(post.Id);
            while (!await AllHoldAsync(keys, id))
            {
                if (Stopwatch.GetElapsedTime(created) > TimeSpan.FromSeconds(30))
                {
                    Assert.Fail($"Post {id} did not reach every active follower within 30 s.");
                }
                await Task.Delay(1);
            }
            samples.Add(Stopwatch.GetElapsedTime(created).TotalMilliseconds);
        }

        samples.Sort();
        output.WriteLine(
            $"convergence over {Posts} posts to {fans.Count} active followers (batch size {FeedApp.BatchSize}): " +
            $"p50 {Percentile(samples, 0.50):F1} ms, p95 {Percentile(samples, 0.95):F1} ms, max {samples[^1]:F1} ms");
    }

    private async Task<bool> AllHoldAsync(RedisKey[] keys, long postId)
    {
        var scores = await Task.WhenAll(keys.Select(k => app.RedisDb.SortedSetScoreAsync(k, postId)));
        return scores.All(s => s.HasValue);
    }

    private static double Percentile(List<double> sorted, double p) => sorted[(int)Math.Ceiling(p * sorted.Count) - 1];
}
