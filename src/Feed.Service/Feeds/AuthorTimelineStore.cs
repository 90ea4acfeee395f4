using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns every author timeline in Redis: <c>tl:{authorId}</c>, the author's recent post ids
/// capped at <see cref="FeedOptions.TimelineCap"/>. Readers merge the timelines of the
/// celebrities they follow, and their own, into their home feed page.
/// </summary>
public sealed class AuthorTimelineStore(IConnectionMultiplexer redis, IOptions<FeedOptions> options)
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

    public Task DeleteAsync(long authorId) => _db.KeyDeleteAsync(Key(authorId));
}
