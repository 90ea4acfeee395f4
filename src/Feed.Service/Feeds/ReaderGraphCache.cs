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
/// by every reader at once. A follow or unfollow deletes the follower's entry before and after its
/// commit, and again from its outbox job (retried until done), so a lost delete heals; entries also
/// expire after <see cref="FeedOptions.ReaderGraphTtl"/>. Nothing else touches these keys.
/// </remarks>
public sealed class ReaderGraphCache(IConnectionMultiplexer redis, RedisTopology topology, IOptions<FeedOptions> options)
{
    private static readonly RedisKey GenerationKey = "rd:generation";

    private readonly IDatabase _db = redis.GetDatabase();
    private readonly TimeSpan _ttl = options.Value.ReaderGraphTtl;

    public static RedisKey Key(long userId) => $"rd:{{{userId}}}";

    /// <summary>The reader's cached graph if it is current, and the generation to build a new entry at.</summary>
    public async Task<(ReaderGraph? Graph, long Generation)> GetAsync(long userId)
    {
        // One MGET on a standalone Redis; two GETs on a cluster, where the keys live in different slots.
        RedisValue[] values = topology.IsCluster
            ? await Task.WhenAll(_db.StringGetAsync(Key(userId)), _db.StringGetAsync(GenerationKey))
            : await _db.StringGetAsync([Key(userId), GenerationKey]);
        var current = values[1].IsNull ? 0 : (long)values[1];
        var graph = values[0].IsNull ? null : Decode((byte[])values[0]!);
        return (graph is not null && graph.Generation == current ? graph : null, current);
    }

    public Task SetAsync(long userId, ReaderGraph graph) => _db.StringSetAsync(Key(userId), Encode(graph), _ttl);

    public Task InvalidateAsync(long userId) => _db.KeyDeleteAsync(Key(userId));

    /// <summary>Makes every cached entry stale: an author's posts now have to be merged at read time.</summary>
    public Task BumpGenerationAsync() => _db.StringIncrementAsync(GenerationKey);

    // Layout: generation, last read (UTC ticks), then per followee its id and a merge flag.
    private static byte[] Encode(ReaderGraph graph)
    {
        var bytes = new byte[16 + (graph.Following.Length * 9)];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, graph.Generation);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8), graph.LastFeedReadAt.UtcTicks);
        var at = 16;
        foreach (var followee in graph.Following)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), followee);
            bytes[at + 8] = graph.Merged.Contains(followee) ? (byte)1 : (byte)0;
            at += 9;
        }
        return bytes;
    }

    private static ReaderGraph? Decode(byte[] bytes)
    {
        if (bytes.Length < 16 || (bytes.Length - 16) % 9 != 0)
        {
            return null;
        }
        var following = new long[(bytes.Length - 16) / 9];
        var merged = new List<long>();
        var sorted = true;
        for (int at = 16, i = 0; at < bytes.Length; at += 9, i++)
        {
            var followee = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            following[i] = followee;
            sorted &= i == 0 || following[i - 1] < followee;
            if (bytes[at + 8] == 1)
            {
                merged.Add(followee);
            }
        }
        if (!sorted)
        {
            Array.Sort(following); // an entry written before ids were stored in order
        }
        return new ReaderGraph(
            BinaryPrimitives.ReadInt64LittleEndian(bytes),
            new DateTimeOffset(BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(8)), TimeSpan.Zero),
            following,
            merged);
    }
}

/// <summary>
/// A reader's follow graph as a feed read needs it, built at <paramref name="Generation"/>:
/// <paramref name="Following"/> in ascending order (a binary search per post is cheaper to build
/// and to keep than a hash set, which a read would allocate for every request).
/// </summary>
public sealed record ReaderGraph(long Generation, DateTimeOffset LastFeedReadAt, long[] Following, List<long> Merged)
{
    public bool Follows(long authorId) => Array.BinarySearch(Following, authorId) >= 0;
}
