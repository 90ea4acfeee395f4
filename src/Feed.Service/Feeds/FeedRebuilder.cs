using Feed.Infrastructure.Telemetry;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Feeds;

/// <summary>
/// Rebuilds a missing home feed or author timeline from Postgres (new or returning reader,
/// eviction, a flushed or restarted Redis).
/// </summary>
/// <remarks>
/// The set is created from one query, then the query runs again and anything that appeared in
/// between is added: a post whose fan-out ran after the first query but before the set existed
/// was skipped by that fan-out (pushes never create feeds), and the second query catches it.
/// </remarks>
public sealed class FeedRebuilder(
    NpgsqlDataSource postgres, FeedStore feeds, AuthorTimelineStore timelines, IOptions<FeedOptions> options, FeedMetrics metrics)
{
    // Newest live posts of everyone the user follows; LATERAL keeps it to cap rows per followee.
    private const string HomeFeedSql = """
        SELECT p.id FROM follows f
        CROSS JOIN LATERAL (
            SELECT id FROM posts WHERE author_id = f.followee_id AND deleted_at IS NULL ORDER BY id DESC LIMIT $2
        ) p
        WHERE f.follower_id = $1
        ORDER BY p.id DESC LIMIT $2
        """;

    private const string TimelineSql =
        "SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2";

    private readonly FeedOptions _options = options.Value;

    public async Task RebuildHomeFeedAsync(long userId, CancellationToken ct)
    {
        var first = await QueryIdsAsync(HomeFeedSql, userId, _options.FeedCap, ct);
        if (await feeds.CreateIfMissingAsync(userId, first))
        {
            metrics.Rebuilt("home");
        }
        var second = await QueryIdsAsync(HomeFeedSql, userId, _options.FeedCap, ct);
        var late = second.Except(first).ToArray();
        if (late.Length > 0)
        {
            await feeds.AddAsync(userId, late);
        }
    }

    public async Task RebuildTimelineAsync(long authorId, CancellationToken ct)
    {
        var first = await QueryIdsAsync(TimelineSql, authorId, _options.TimelineCap, ct);
        if (await timelines.CreateIfMissingAsync(authorId, first))
        {
            metrics.Rebuilt("timeline");
        }
        var second = await QueryIdsAsync(TimelineSql, authorId, _options.TimelineCap, ct);
        var late = second.Except(first).ToArray();
        if (late.Length > 0)
        {
            await timelines.AddAsync(authorId, late);
        }
    }

    private async Task<List<long>> QueryIdsAsync(string sql, long id, int cap, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = cap });
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }
}
