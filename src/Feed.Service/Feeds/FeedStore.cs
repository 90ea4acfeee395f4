using System.Globalization;
using System.Runtime.CompilerServices;
using Feed.FanOut;
using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns every home feed in Redis: <c>feed:{userId}</c>, a sorted set of post ids capped at
/// <see cref="FeedOptions.FeedCap"/>, alive for <see cref="FanOutOptions.InactiveAfter"/> after
/// the reader's last recorded activity. Nothing else touches these keys.
/// </summary>
/// <remarks>Inserts are idempotent and order-safe; a feed that does not exist is never created by a push.</remarks>
public sealed class FeedStore(IConnectionMultiplexer redis, IOptions<FeedOptions> feedOptions, IOptions<FanOutOptions> fanOutOptions)
{
    /// <summary>Keys per SCAN round trip when walking every feed.</summary>
    private const int ScanPageSize = 1000;

    private const string KeyPattern = "feed:{*}";

    private readonly IDatabase _db = redis.GetDatabase();
    private readonly int _cap = feedOptions.Value.FeedCap;
    private readonly TimeSpan _ttl = fanOutOptions.Value.InactiveAfter;

    /// <summary>The Redis key of a user's home feed; the hash tag keeps a user's keys in one cluster slot.</summary>
    public static RedisKey Key(long userId) => $"feed:{{{userId}}}";

    /// <summary>Pushes one post into many feeds with pipelined commands (one round trip in total, not one per feed).</summary>
    /// <returns>How many feeds received the post (feeds that do not exist are skipped).</returns>
    public async Task<int> PushAsync(IReadOnlyList<long> userIds, long postId)
    {
        var ids = new[] { postId };
        var tasks = new Task<bool>[userIds.Count];
        for (var i = 0; i < userIds.Count; i++)
        {
            tasks[i] = CappedIdSet.AddIfExistsAsync(_db, Key(userIds[i]), _cap, null, ids);
        }
        var results = await Task.WhenAll(tasks);
        return results.Count(r => r);
    }

    /// <summary>Adds posts to one feed if it exists (used by rebuilds and backfills).</summary>
    public Task<bool> AddAsync(long userId, IReadOnlyCollection<long> postIds) =>
        CappedIdSet.AddIfExistsAsync(_db, Key(userId), _cap, null, postIds);

    /// <summary>Removes one post from many feeds, pipelined.</summary>
    public async Task RemoveAsync(IReadOnlyList<long> userIds, long postId)
    {
        var tasks = new Task[userIds.Count];
        for (var i = 0; i < userIds.Count; i++)
        {
            tasks[i] = _db.SortedSetRemoveAsync(Key(userIds[i]), postId);
        }
        await Task.WhenAll(tasks);
    }

    /// <summary>Removes many posts from one feed.</summary>
    public Task RemovePostsAsync(long userId, IReadOnlyCollection<long> postIds) =>
        _db.SortedSetRemoveAsync(Key(userId), [.. postIds.Select(id => (RedisValue)id)]);

    /// <summary>Creates a user's feed from a rebuild unless someone else created it first.</summary>
    public Task<bool> CreateIfMissingAsync(long userId, IReadOnlyCollection<long> postIds) =>
        CappedIdSet.CreateIfMissingAsync(_db, Key(userId), _cap, _ttl, postIds);

    internal Task<IdRange> ReadAsync(long userId, long before, int count) =>
        CappedIdSet.ReadAsync(_db, Key(userId), before, count);

    /// <summary>Renews the feed's lifetime after recorded reader activity.</summary>
    public Task TouchAsync(long userId) => _db.KeyExpireAsync(Key(userId), _ttl);

    /// <summary>Drops a user's feed; the next read rebuilds it from Postgres.</summary>
    public Task DeleteAsync(long userId) => _db.KeyDeleteAsync(Key(userId));

    /// <summary>Post ids in a user's stored feed, newest first (empty when the feed does not exist).</summary>
    public async Task<long[]> GetAllAsync(long userId)
    {
        var values = await _db.SortedSetRangeByScoreAsync(Key(userId), start: 0, exclude: Exclude.Start, order: Order.Descending);
        return [.. values.Select(v => (long)v)];
    }

    public Task<bool> ExistsAsync(long userId) => _db.KeyExistsAsync(Key(userId));

    /// <summary>
    /// The user id of every stored feed, from a SCAN of every primary (so it covers a Redis
    /// Cluster). As SCAN promises, a feed created or deleted during the walk may be missed, and an
    /// id may come twice.
    /// </summary>
    public async IAsyncEnumerable<long> ScanUserIdsAsync([EnumeratorCancellation] CancellationToken ct)
    {
        foreach (var server in redis.GetServers())
        {
            if (server.IsReplica || !server.IsConnected)
            {
                continue;
            }
            await foreach (var key in server.KeysAsync(_db.Database, KeyPattern, ScanPageSize).WithCancellation(ct))
            {
                var name = (string?)key;
                if (name is { Length: > 7 } && name.EndsWith('}') &&
                    long.TryParse(name.AsSpan(6, name.Length - 7), NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
                {
                    yield return userId;
                }
            }
        }
    }

    /// <summary>
    /// Trims many feeds to the current cap and caps their lifetime at the inactivity period,
    /// pipelined. Inserts already trim; this repairs feeds after the cap or the period was lowered.
    /// </summary>
    /// <returns>How many post ids were removed.</returns>
    public async Task<long> TrimAsync(IReadOnlyList<long> userIds)
    {
        var tasks = new Task<long>[userIds.Count];
        for (var i = 0; i < userIds.Count; i++)
        {
            tasks[i] = CappedIdSet.TrimAsync(_db, Key(userIds[i]), _cap, _ttl);
        }
        var removed = await Task.WhenAll(tasks);
        return removed.Where(r => r > 0).Sum();
    }

    /// <summary>Drops many feeds, pipelined (one key per command, so it works on a cluster); readers rebuild them.</summary>
    /// <returns>How many feeds existed and were dropped.</returns>
    public async Task<int> DeleteManyAsync(IReadOnlyList<long> userIds)
    {
        var tasks = new Task<bool>[userIds.Count];
        for (var i = 0; i < userIds.Count; i++)
        {
            tasks[i] = _db.KeyDeleteAsync(Key(userIds[i]));
        }
        var deleted = await Task.WhenAll(tasks);
        return deleted.Count(d => d);
    }
}
