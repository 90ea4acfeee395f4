using System.Text.Json;
using Feed.Infrastructure.Redis;
using Feed.Infrastructure.Telemetry;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns the post cache in Redis: <c>post:{id}</c> holds a post's author, body and time for
/// hydrating feed pages, or a tombstone once the post is deleted. Misses are read from Postgres.
/// </summary>
/// <remarks>
/// A delete overwrites the entry with a tombstone while a cache fill only sets missing entries
/// (SET NX), so a fill that read Postgres just before the delete can never resurrect the post.
/// </remarks>
public sealed class PostCache(
    IConnectionMultiplexer redis, RedisTopology topology, NpgsqlDataSource postgres, IOptions<FeedOptions> options, FeedMetrics metrics)
{
    private const string Tombstone = "-";
    private readonly IDatabase _db = redis.GetDatabase();
    private readonly TimeSpan _ttl = options.Value.PostCacheTtl;

    public static RedisKey Key(long postId) => $"post:{{{postId}}}";

    /// <summary>Caches a post that was just written.</summary>
    public Task SetAsync(CachedPost post) =>
        _db.StringSetAsync(Key(post.Id), JsonSerializer.SerializeToUtf8Bytes(post, CachedPost.Json), _ttl, When.NotExists);

    /// <summary>Marks a post deleted in the cache, overwriting whatever was there.</summary>
    public Task MarkDeletedAsync(long postId) => _db.StringSetAsync(Key(postId), Tombstone, _ttl);

    /// <summary>
    /// Returns the live posts among <paramref name="postIds"/>, keyed by id. Deleted and unknown
    /// posts are absent. Cache misses are read from Postgres in one query and cached.
    /// </summary>
    public async Task<Dictionary<long, CachedPost>> GetManyAsync(IReadOnlyList<long> postIds, CancellationToken ct)
    {
        var found = new Dictionary<long, CachedPost>(postIds.Count);
        if (postIds.Count == 0)
        {
            return found;
        }
        var keys = new RedisKey[postIds.Count];
        for (var i = 0; i < postIds.Count; i++)
        {
            keys[i] = Key(postIds[i]);
        }
        // One MGET on a standalone Redis; one GET per key (pipelined) across a cluster's slots.
        var values = topology.IsCluster
            ? await Task.WhenAll(keys.Select(key => _db.StringGetAsync(key)))
            : await _db.StringGetAsync(keys);
        List<long>? misses = null;
        for (var i = 0; i < postIds.Count; i++)
        {
            var value = values[i];
            if (value.IsNull)
            {
                (misses ??= []).Add(postIds[i]);
            }
            else if (value != Tombstone)
            {
                found[postIds[i]] = JsonSerializer.Deserialize<CachedPost>((byte[])value!, CachedPost.Json)!;
            }
        }
        metrics.PostCacheLookups(postIds.Count - (misses?.Count ?? 0), misses?.Count ?? 0);
        if (misses is not null)
        {
            await FillFromPostgresAsync(misses, found, ct);
        }
        return found;
    }

    private async Task FillFromPostgresAsync(List<long> misses, Dictionary<long, CachedPost> found, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(
            "SELECT id, author_id, body, created_at, deleted_at IS NOT NULL FROM posts WHERE id = ANY($1)");
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. misses] });
        var fills = new List<Task>(misses.Count);
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var id = reader.GetInt64(0);
                if (reader.GetBoolean(4))
                {
                    fills.Add(_db.StringSetAsync(Key(id), Tombstone, _ttl, When.NotExists));
                    continue;
                }
                var post = new CachedPost(id, reader.GetInt64(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3));
                found[id] = post;
                fills.Add(SetAsync(post));
            }
        }
        await Task.WhenAll(fills);
    }
}

/// <summary>What a feed page needs of a post.</summary>
public sealed record CachedPost(long Id, long AuthorId, string Body, DateTimeOffset CreatedAt)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
