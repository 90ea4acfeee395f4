using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns every author timeline in Redis: <c>tl:{authorId}</c>, the author's recent post ids
/// capped at <see cref="FeedOptions.TimelineCap"/>. Readers merge the timelines of the
/// celebrities they follow, and their own, into their home feed page.
/// </summary>
public sealed class AuthorTimelineStore(IConnectionMultiplexer redis, RedisTopology topology, IOptions<FeedOptions> options)
{
    private readonly IDatabase _db = redis.GetDatabase();
    private readonly int _cap = options.Value.TimelineCap;
    private readonly TimeSpan _ttl = options.Value.TimelineTtl;

    public static RedisKey Key(long authorId) => $"tl:{{{authorId}}}";

    /// <summary>Adds posts to the author's timeline if it exists; a missing one is rebuilt on its next read.</summary>
    public Task<bool> AddAsync(long authorId, IReadOnlyCollection<long> postIds) =>
        CappedIdSet.AddIfExistsAsync(_db, Key(authorId), _cap, _ttl, postIds);

    public Task RemoveAsync(long authorId, long postId) => _db.SortedSetRemoveAsync(Key(authorId), postId);

    public Task<bool> CreateIfMissingAsync(long authorId, IReadOnlyCollection<long> postIds) =>
        CappedIdSet.CreateIfMissingAsync(_db, Key(authorId), _cap, _ttl, postIds);

    internal Task<IdRange> ReadAsync(long authorId, long before, int count) =>
        CappedIdSet.ReadAsync(_db, Key(authorId), before, count);

    /// <summary>
    /// Several authors' ids in [<paramref name="floor"/>, <paramref name="before"/>), up to
    /// <paramref name="count"/> each: one script call on a standalone Redis, one per timeline (each to
    /// its slot) on a cluster.
    /// </summary>
    internal async Task<IdRange[]> ReadBoundedAsync(IReadOnlyList<long> authorIds, long before, long floor, int count)
    {
        if (!topology.IsCluster)
        {
            return await CappedIdSet.ReadBoundedAsync(_db, [.. authorIds.Select(Key)], before, floor, count);
        }
        var reads = await Task.WhenAll(authorIds.Select(id => CappedIdSet.ReadBoundedAsync(_db, [Key(id)], before, floor, count)));
        return [.. reads.Select(r => r[0])];
    }

    public Task DeleteAsync(long authorId) => _db.KeyDeleteAsync(Key(authorId));
}
