using System.Buffers.Binary;
using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns <c>rd:{userId}</c>, what a feed read needs to know about its reader — whom they follow,
/// which of those are merged at read time, and when they last read — and <c>rd:generation</c>, a
/// counter bumped whenever an author starts being merged. Reads then cost no Postgres round trip,
/// and keep working while Postgres is down.
/// </summary>
/// <remarks>
/// An entry is valid only for the generation it was built at, so a promotion to celebrity is seen
/// by every reader at once, and only for the value of the reader's counter <c>rdv:{userId}</c> read
/// before its graph was loaded. A follow or unfollow invalidates (deletes the entry and increments
/// the counter) before and after its commit, and again from its outbox job (retried until done), so
/// a lost invalidation heals, and a read that loaded the graph before the change but caches it only
/// after every invalidation still leaves a stale entry nobody uses. Entries expire after
/// <see cref="FeedOptions.ReaderGraphTtl"/> less a random quarter of it at most, so that entries
/// cached together (after a generation bump, or a burst of returning readers) do not all expire in
/// the same second and send every reader's next read to Postgres at once. Nothing else touches these keys.
/// </remarks>
public sealed class ReaderGraphCache(IConnectionMultiplexer redis, RedisTopology topology, IOptions<FeedOptions> options)
{
    private static readonly RedisKey GenerationKey = "rd:generation";

    private readonly IDatabase _db = redis.GetDatabase();
    private readonly TimeSpan _ttl = options.Value.ReaderGraphTtl;

    public static RedisKey Key(long userId) => $"rd:{{{userId}}}";

    /// <summary>The reader's invalidation counter, in the entry's slot: an entry is valid only for the value it was built at.</summary>
    public static RedisKey VersionKey(long userId) => $"rdv:{{{userId}}}";

    // The entry, with its counter's lifetime stretched past the entry's: a counter that expired and
    // started again could otherwise meet an older entry built at the same value.
    private const string SetScript = """
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('PEXPIRE', KEYS[2], ARGV[2] * 2)
        """;

    // Every entry built before this call (including one a slow read sets afterwards) is now stale.
    private const string InvalidateScript = """
        redis.call('DEL', KEYS[1])
        redis.call('INCR', KEYS[2])
        redis.call('PEXPIRE', KEYS[2], ARGV[1] * 2)
        """;

    /// <summary>
    /// The reader's cached graph if it is current, and the generation and version to build a new
    /// entry at (read before the graph is loaded from Postgres, so an invalidation meanwhile wins).
    /// </summary>
    public async Task<(ReaderGraph? Graph, long Generation, long Version)> GetAsync(long userId)
    {
        // One MGET on a standalone Redis; on a cluster one MGET for the reader's slot and a GET for the generation.
        RedisValue[] values;
        if (topology.IsCluster)
        {
            var own = _db.StringGetAsync([Key(userId), VersionKey(userId)]);
            var generation = _db.StringGetAsync(GenerationKey);
            var (entry, counter) = (await own, await generation);
            values = [entry[0], counter, entry[1]];
        }
        else
        {
            values = await _db.StringGetAsync([Key(userId), GenerationKey, VersionKey(userId)]);
        }
        var current = values[1].IsNull ? 0 : (long)values[1];
        var version = values[2].IsNull ? 0 : (long)values[2];
        var graph = values[0].IsNull ? null : Decode((byte[])values[0]!);
        return (graph is not null && graph.Generation == current && graph.Version == version ? graph : null, current, version);
    }

    public Task SetAsync(long userId, ReaderGraph graph) =>
        _db.ScriptEvaluateAsync(SetScript, [Key(userId), VersionKey(userId)], [Encode(graph), EntryLifetimeMilliseconds()]);

    /// <summary>A lifetime drawn uniformly from [3/4, 1] of the configured one.</summary>
    private long EntryLifetimeMilliseconds()
    {
        var ttl = (long)_ttl.TotalMilliseconds;
        return ttl - Random.Shared.NextInt64(ttl / 4 + 1);
    }

    public Task InvalidateAsync(long userId) =>
        _db.ScriptEvaluateAsync(InvalidateScript, [Key(userId), VersionKey(userId)], [(long)_ttl.TotalMilliseconds]);

    /// <summary>Makes every cached entry stale: an author's posts now have to be merged at read time.</summary>
    public Task BumpGenerationAsync() => _db.StringIncrementAsync(GenerationKey);

    // Layout: generation, version, last read (UTC ticks), then per followee, in ascending order, its
    // id and a merge flag. The order is established here, on the rare write, so that a read can
    // take the ids as they come.
    private const int Header = 24;

    private static byte[] Encode(ReaderGraph graph)
    {
        var following = graph.Following;
        if (!IsAscending(following))
        {
            following = [.. following];
            Array.Sort(following);
        }
        var bytes = new byte[Header + (following.Length * 9)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, graph.Generation);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), graph.Version);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(16), graph.LastFeedReadAt.UtcTicks);
        var at = Header;
        foreach (var followee in following)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), followee);
            bytes[at + 8] = graph.Merged.Contains(followee) ? (byte)1 : (byte)0;
            at += 9;
        }
        return bytes;
    }

    private static bool IsAscending(long[] ids)
    {
        for (var i = 1; i < ids.Length; i++)
        {
            if (ids[i - 1] >= ids[i])
            {
                return false;
            }
        }
        return true;
    }

    /// <returns>The graph, or null for anything else (an entry of the earlier 16-byte header never fits this layout).</returns>
    private static ReaderGraph? Decode(byte[] bytes)
    {
        if (bytes.Length < Header || (bytes.Length - Header) % 9 != 0)
        {
            return null;
        }
        var following = new long[(bytes.Length - Header) / 9];
        var merged = new List<long>();
        for (int at = Header, i = 0; at < bytes.Length; at += 9, i++)
        {
            var followee = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            following[i] = followee;
            if (bytes[at + 8] == 1)
            {
                merged.Add(followee);
            }
        }
        return new ReaderGraph(
            BinaryPrimitives.ReadInt64LittleEndian(bytes),
            new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(16)), TimeSpan.Zero),
            following,
            merged)
        { Version = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)) };
    }
}

/// <summary>
/// A reader's follow graph as a feed read needs it, built at <paramref name="Generation"/> and
/// <see cref="Version"/> (the reader's invalidation counter):
/// <paramref name="Following"/> in ascending order (a binary search per post is cheaper to build
/// and to keep than a hash set, which a read would allocate for every request).
/// </summary>
public sealed record ReaderGraph(long Generation, DateTimeOffset LastFeedReadAt, long[] Following, List<long> Merged)
{
    public long Version { get; init; }

    public bool Follows(long authorId) => Array.BinarySearch(Following, authorId) >= 0;
}
