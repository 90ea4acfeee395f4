using StackExchange.Redis;

namespace Feed.Infrastructure.Redis;

/// <summary>
/// Operations on a capped sorted set of ids (member and score are both the id, newest = highest).
/// Every set carries a sentinel member <c>"0"</c> (score 0): a key that exists is a complete,
/// built set, and a missing key means "rebuild me". Writers therefore only add to sets that
/// exist, so a fan-out never creates a partial feed that readers would take for a whole one.
/// </summary>
/// <remarks>
/// Ids must stay below 2^53 so that a double score holds them exactly (see docs/decisions.md).
/// Each script touches one key, so it runs on Redis Cluster too.
/// </remarks>
internal static class CappedIdSet
{
    public const string Sentinel = "0";

    // ARGV: cap, ttl seconds (0 = keep), ids... Adds the ids, keeps the sentinel and the newest cap ids.
    private const string AddTrimExpire = """
        for i = 3, #ARGV do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i]) end
        local cap = tonumber(ARGV[1])
        if redis.call('ZCARD', KEYS[1]) > cap + 1 then redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(cap + 1)) end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
        return 1
        """;

    private const string AddIfExistsScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end

        """ + AddTrimExpire;

    /// <summary>The add-if-exists script's text (ARGV: cap, ttl seconds, ids), for benchmarks of the raw Redis work.</summary>
    internal const string AddIfExistsScriptText = AddIfExistsScript;

    private const string CreateIfMissingScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('ZADD', KEYS[1], 0, '0')

        """ + AddTrimExpire;

    // ARGV: cap, ttl seconds (0 = keep). Trims to the sentinel plus the newest cap ids and caps the
    // lifetime at ttl (a key without one gets it). Returns the ids removed, or -1 if the key is missing.
    private const string TrimScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
        local cap = tonumber(ARGV[1])
        local removed = 0
        if redis.call('ZCARD', KEYS[1]) > cap + 1 then removed = redis.call('ZREMRANGEBYRANK', KEYS[1], 1, -(cap + 1)) end
        local ttl = tonumber(ARGV[2])
        if ttl > 0 then
            local current = redis.call('TTL', KEYS[1])
            if current == -1 or current > ttl then redis.call('EXPIRE', KEYS[1], ttl) end
        end
        return removed
        """;

    // KEYS: the sets; ARGV: the exclusive upper bound, the inclusive lower bound, how many to read.
    // Per key: false when it is missing, else its ids in the range, newest first (the sentinel
    // among them when the lower bound is 0 and the set is exhausted).
    private const string ReadBoundedScript = """
        local out = {}
        for i = 1, #KEYS do
            if redis.call('EXISTS', KEYS[i]) == 0 then
                out[i] = false
            else
                out[i] = redis.call('ZRANGE', KEYS[i], '(' .. ARGV[1], ARGV[2], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[3])
            end
        end
        return out
        """;

    /// <summary>Adds ids to the set if it exists (idempotent, order-safe), then trims it to <paramref name="cap"/>.</summary>
    /// <returns>False when the set does not exist (nothing written).</returns>
    public static async Task<bool> AddIfExistsAsync(IDatabaseAsync db, RedisKey key, int cap, TimeSpan? ttl, IReadOnlyCollection<long> ids)
    {
        var result = await db.ScriptEvaluateAsync(AddIfExistsScript, [key], Args(cap, ttl, ids));
        return (long)result == 1;
    }

    /// <summary>Creates the set with the sentinel and the given ids unless it already exists.</summary>
    /// <returns>False when the set already existed (nothing written).</returns>
    public static async Task<bool> CreateIfMissingAsync(IDatabaseAsync db, RedisKey key, int cap, TimeSpan? ttl, IReadOnlyCollection<long> ids)
    {
        var result = await db.ScriptEvaluateAsync(CreateIfMissingScript, [key], Args(cap, ttl, ids));
        return (long)result == 1;
    }

    /// <summary>
    /// Trims an existing set to <paramref name="cap"/> ids (after a lowered cap, or a writer that did
    /// not trim) and shortens its lifetime to at most <paramref name="ttl"/>.
    /// </summary>
    /// <returns>The ids removed; -1 when the set does not exist.</returns>
    public static async Task<long> TrimAsync(IDatabaseAsync db, RedisKey key, int cap, TimeSpan? ttl)
    {
        var result = await db.ScriptEvaluateAsync(TrimScript, [key], Args(cap, ttl, []));
        return (long)result;
    }

    /// <summary>Reads up to <paramref name="count"/> ids below <paramref name="before"/>, newest first.</summary>
    public static async Task<IdRange> ReadAsync(IDatabaseAsync db, RedisKey key, long before, int count)
    {
        // The range includes score 0, so the sentinel shows up exactly when the set is exhausted,
        // and an empty answer means the key is missing.
        var values = await db.SortedSetRangeByScoreAsync(
            key, start: 0, stop: before, exclude: Exclude.Stop, order: Order.Descending, skip: 0, take: count + 1);
        return values.Length == 0 ? IdRange.Missing : ToRange(values, count);
    }

    /// <summary>
    /// Reads, for each set, up to <paramref name="count"/> ids below <paramref name="before"/> and not
    /// below <paramref name="floor"/>, newest first, in one script call. A set with fewer ids than
    /// <paramref name="count"/> in that range is complete down to <paramref name="floor"/>. The keys
    /// must share a hash slot on a cluster (pass one key per call there).
    /// </summary>
    public static async Task<IdRange[]> ReadBoundedAsync(IDatabaseAsync db, RedisKey[] keys, long before, long floor, int count)
    {
        var result = await db.ScriptEvaluateAsync(ReadBoundedScript, keys, [before, floor, count + 1]);
        var replies = (RedisResult[])result!;
        var ranges = new IdRange[replies.Length];
        for (var i = 0; i < replies.Length; i++)
        {
            ranges[i] = replies[i].IsNull ? IdRange.Missing : ToRange((RedisValue[])replies[i]!, count);
        }
        return ranges;
    }

    private static IdRange ToRange(RedisValue[] values, int count)
    {
        var ids = new List<long>(Math.Min(values.Length, count));
        var exhausted = false;
        foreach (var value in values)
        {
            var id = (long)value;
            if (id == 0)
            {
                exhausted = true;
                break;
            }
            if (ids.Count == count)
            {
                break;
            }
            ids.Add(id);
        }
        return new IdRange(true, ids, exhausted, Truncated: !exhausted && ids.Count == count && values.Length > count);
    }

    private static RedisValue[] Args(int cap, TimeSpan? ttl, IReadOnlyCollection<long> ids)
    {
        var args = new RedisValue[ids.Count + 2];
        args[0] = cap;
        args[1] = ttl is { } t ? (long)Math.Ceiling(t.TotalSeconds) : 0;
        var i = 2;
        foreach (var id in ids)
        {
            args[i++] = id;
        }
        return args;
    }
}

/// <summary>A slice of a <see cref="CappedIdSet"/>, newest first.</summary>
/// <param name="Exists">False when the key is missing and must be rebuilt.</param>
/// <param name="Ids">The ids read.</param>
/// <param name="Exhausted">True when no older id exists below the last one read.</param>
/// <param name="Truncated">True when the range held more ids than were asked for.</param>
internal sealed record IdRange(bool Exists, IReadOnlyList<long> Ids, bool Exhausted, bool Truncated = false)
{
    public static readonly IdRange Missing = new(false, [], true);
}
