using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using Feed.Posts;
using Feed.Infrastructure.Redis;
using Feed.Infrastructure.Telemetry;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Owns the post cache in Redis: <c>post:{id}</c> holds a post exactly as the API serializes it
/// (a <see cref="PostResponse"/> in the HTTP JSON options), or a tombstone once the post is deleted,
/// so a feed page is written from the cached bytes without parsing or re-serializing the posts.
/// Misses are read from Postgres.
/// </summary>
/// <remarks>
/// A delete overwrites the entry with a tombstone while a cache fill only sets missing entries
/// (SET NX), so a fill that read Postgres just before the delete can never resurrect the post.
/// </remarks>
public sealed class PostCache(
    IConnectionMultiplexer redis,
    RedisTopology topology,
    NpgsqlDataSource postgres,
    IOptions<FeedOptions> options,
    IOptions<JsonOptions> json,
    FeedMetrics metrics)
{
    private const string Tombstone = "-";

    // Replaces an entry only if it still holds what was read (a tombstone written meanwhile stays).
    private const string ReplaceIfUnchangedScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end
        return 0
        """;
    private readonly IDatabase _db = redis.GetDatabase();
    private readonly TimeSpan _ttl = options.Value.PostCacheTtl;
    private readonly JsonSerializerOptions _json = json.Value.SerializerOptions;

    public static RedisKey Key(long postId) => $"post:{{{postId}}}";

    /// <summary>Caches a post that was just written.</summary>
    public Task SetAsync(long id, long authorId, string body, DateTimeOffset createdAt) =>
        SetAsync(CachedPost.Create(id, authorId, body, createdAt, _json));

    private Task SetAsync(CachedPost post) => _db.StringSetAsync(Key(post.Id), post.Json, _ttl, When.NotExists);

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
        List<Task>? upgrades = null;
        for (var i = 0; i < postIds.Count; i++)
        {
            var value = values[i];
            if (value.IsNull)
            {
                (misses ??= []).Add(postIds[i]);
            }
            else if (value != Tombstone)
            {
                var bytes = (byte[])value!;
                var post = CachedPost.Parse(bytes, _json);
                found[postIds[i]] = post;
                if (!ReferenceEquals(post.Json, bytes))
                {
                    // An entry of the earlier format, converted: stored converted, so it is converted once.
                    (upgrades ??= []).Add(_db.ScriptEvaluateAsync(ReplaceIfUnchangedScript, [keys[i]], [value, post.Json]));
                }
            }
        }
        metrics.PostCacheLookups(postIds.Count - (misses?.Count ?? 0), misses?.Count ?? 0);
        if (misses is not null)
        {
            await FillFromPostgresAsync(misses, found, ct);
        }
        if (upgrades is not null)
        {
            await Task.WhenAll(upgrades);
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
                var post = CachedPost.Create(id, reader.GetInt64(1), reader.GetString(2), reader.GetFieldValue<DateTimeOffset>(3), _json);
                found[id] = post;
                fills.Add(SetAsync(post));
            }
        }
        await Task.WhenAll(fills);
    }
}

/// <summary>
/// What a feed page needs of a post: its author, to filter the page, and its API representation,
/// the UTF-8 JSON of a <see cref="PostResponse"/>, written into the page as it is.
/// </summary>
public sealed class CachedPost(long id, long authorId, byte[] json)
{
    public long Id { get; } = id;

    public long AuthorId { get; } = authorId;

    public byte[] Json { get; } = json;

    internal static CachedPost Create(long id, long authorId, string body, DateTimeOffset createdAt, JsonSerializerOptions options) =>
        new(id, authorId, JsonSerializer.SerializeToUtf8Bytes(
            new PostResponse(id.ToString(CultureInfo.InvariantCulture), authorId.ToString(CultureInfo.InvariantCulture), body, createdAt), options));

    /// <summary>
    /// Reads the id and author from the start of a cached <see cref="PostResponse"/> (its first two
    /// properties) without parsing the rest. An entry written in the earlier format (numeric ids,
    /// the same four fields) is converted.
    /// </summary>
    internal static CachedPost Parse(byte[] value, JsonSerializerOptions options)
    {
        var reader = new Utf8JsonReader(value);
        if (reader.Read() && reader.TokenType == JsonTokenType.StartObject &&
            reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("id"u8) &&
            reader.Read() && reader.TokenType == JsonTokenType.String && Utf8Parser.TryParse(reader.ValueSpan, out long id, out _) &&
            reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("authorId"u8) &&
            reader.Read() && reader.TokenType == JsonTokenType.String && Utf8Parser.TryParse(reader.ValueSpan, out long authorId, out _))
        {
            return new CachedPost(id, authorId, value);
        }
        var legacy = JsonSerializer.Deserialize<LegacyEntry>(value, options)
            ?? throw new JsonException("A post cache entry is neither a post nor a tombstone.");
        return Create(legacy.Id, legacy.AuthorId, legacy.Body, legacy.CreatedAt, options);
    }

    private sealed record LegacyEntry(long Id, long AuthorId, string Body, DateTimeOffset CreatedAt);
}
