using System.Diagnostics;
using Feed.LoadTests.Scenarios;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Targets;

/// <summary>Watches a post arrive: in followers' stored feeds (pipelined <c>ZSCORE</c>s), or its outbox row complete.</summary>
public sealed class ArrivalWatcher(IConnectionMultiplexer redis, NpgsqlDataSource postgres)
{
    private const string OpenRowsSql = "SELECT count(*) FROM outbox WHERE post_id = ANY($1) AND completed_at IS NULL";

    private readonly IDatabase _db = redis.GetDatabase();

    /// <summary>The followers whose home feed exists in Redis (fan-out only adds to those).</summary>
    public async Task<long[]> WithFeedAsync(IReadOnlyList<long> followers)
    {
        var checks = followers.Select(f => _db.KeyExistsAsync(RedisKeys.Feed(f))).ToArray();
        await Task.WhenAll(checks);
        return [.. followers.Where((_, i) => checks[i].Result)];
    }

    /// <summary>
    /// Polls every <paramref name="interval"/> until every follower's feed holds the post.
    /// </summary>
    /// <returns>The time from <paramref name="since"/> (a <see cref="Stopwatch"/> timestamp) to the poll that found the last one; null after <paramref name="timeout"/>.</returns>
    public async Task<TimeSpan?> InFeedsAsync(long postId, IReadOnlyList<long> followers, long since, TimeSpan interval, TimeSpan timeout, CancellationToken ct)
    {
        var pending = followers.ToList();
        while (true)
        {
            var checks = pending.Select(f => _db.SortedSetScoreAsync(RedisKeys.Feed(f), postId)).ToArray();
            await Task.WhenAll(checks);
            var elapsed = Stopwatch.GetElapsedTime(since);
            pending = [.. pending.Where((_, i) => checks[i].Result is null)];
            if (pending.Count == 0)
            {
                return elapsed;
            }
            if (elapsed > timeout)
            {
                return null;
            }
            await Task.Delay(interval, ct);
        }
    }

    /// <summary>Polls until the posts' outbox rows are all complete (every fan-out batch done).</summary>
    /// <returns>The time from <paramref name="since"/>; null after <paramref name="timeout"/>.</returns>
    public async Task<TimeSpan?> FannedOutAsync(IReadOnlyCollection<long> postIds, long since, TimeSpan interval, TimeSpan timeout, CancellationToken ct)
    {
        while (true)
        {
            await using var cmd = postgres.CreateCommand(OpenRowsSql);
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. postIds] });
            var open = (long)(await cmd.ExecuteScalarAsync(ct))!;
            var elapsed = Stopwatch.GetElapsedTime(since);
            if (open == 0)
            {
                return elapsed;
            }
            if (elapsed > timeout)
            {
                return null;
            }
            await Task.Delay(interval, ct);
        }
    }
}
