using Feed.Feeds;
using Feed.Infrastructure.Telemetry;
using Feed.Outbox;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// Does an outbox row's fan-out work for one keyset range of the author's followers, with all Redis
/// writes pipelined: pushes a new post, removes a deleted one, or pushes a demoted celebrity's
/// merged posts. Followers who have not read their feed within the inactivity period are skipped on
/// push: their feeds have expired and are rebuilt from Postgres when they return.
/// </summary>
/// <remarks>Idempotent: inserting a post already in a feed changes nothing; removing one already gone neither.</remarks>
public sealed class FanOutRangeWriter(
    NpgsqlDataSource postgres,
    FeedStore feeds,
    IOptions<FanOutOptions> fanOutOptions,
    IOptions<FeedOptions> feedOptions,
    FeedMetrics metrics,
    TimeProvider clock)
{
    // The activity check is a per-follower primary-key probe on purpose: as a join, the planner
    // hashed the whole users table for every batch (10 ms for 1,000 followers among 35,000 users,
    // growing with all users rather than with the audience; docs/performance.md).
    private const string ActiveFollowersSql = """
        SELECT f.follower_id FROM follows f
        WHERE f.followee_id = $1 AND f.follower_id > $2 AND f.follower_id <= $3
          AND (SELECT u.last_feed_read_at FROM users u WHERE u.id = f.follower_id) >= $4
        """;

    private const string AllFollowersSql = """
        SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2 AND follower_id <= $3
        """;

    // The posts readers merged while the author was a celebrity, and their most recent posts of any
    // kind: a follower who unfollowed and followed again during the celebrity period had those
    // cleaned out and not backfilled (celebrity follows are not backfilled).
    private const string DemotedAuthorPostsSql = """
        (SELECT id FROM posts WHERE author_id = $1 AND delivery = 2 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2)
        UNION
        (SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $3)
        """;

    /// <summary>
    /// Skip a follower only once their feed has surely expired: the feed lives
    /// <see cref="FanOutOptions.InactiveAfter"/> from its last renewal, and renewals lag recorded
    /// activity by at most the refresh interval.
    /// </summary>
    private readonly TimeSpan _skipAfter =
        fanOutOptions.Value.InactiveAfter + feedOptions.Value.ActivityRefreshInterval + TimeSpan.FromMinutes(1);

    private readonly int _feedCap = feedOptions.Value.FeedCap;
    private readonly int _backfillCount = fanOutOptions.Value.FollowBackfillCount;

    /// <summary>
    /// Applies <paramref name="row"/>'s work to the followers in (<paramref name="after"/>,
    /// <paramref name="last"/>]; <paramref name="postId"/> is the post for post work, null for author work (a demotion).
    /// </summary>
    internal async Task ApplyAsync(FanOutRow row, long? postId, long after, long last, CancellationToken ct)
    {
        var authorId = row.AuthorId;
        var activeSince = clock.GetUtcNow() - _skipAfter;
        switch (row.Kind)
        {
            case OutboxKind.PostCreated when !row.PostDeleted:
                metrics.FeedInserts(await feeds.PushAsync(await QueryIdsAsync(ActiveFollowersSql, ct, authorId, after, last, activeSince), postId!.Value));
                break;
            case OutboxKind.PostDeleted:
                await feeds.RemoveAsync(await QueryIdsAsync(AllFollowersSql, ct, authorId, after, last), postId!.Value);
                break;
            case OutboxKind.AuthorDemoted:
                var posts = await QueryIdsAsync(DemotedAuthorPostsSql, ct, authorId, _feedCap, _backfillCount);
                if (posts.Count > 0)
                {
                    var followers = await QueryIdsAsync(ActiveFollowersSql, ct, authorId, after, last, activeSince);
                    await Task.WhenAll(followers.Select(f => feeds.AddAsync(f, posts)));
                }
                break;
        }
    }

    private async Task<List<long>> QueryIdsAsync(string sql, CancellationToken ct, params object[] args)
    {
        await using var cmd = postgres.CreateCommand(sql);
        foreach (var arg in args)
        {
            cmd.Parameters.Add(arg switch
            {
                long l => new NpgsqlParameter<long> { TypedValue = l },
                int i => new NpgsqlParameter<int> { TypedValue = i },
                DateTimeOffset d => new NpgsqlParameter<DateTimeOffset> { TypedValue = d },
                _ => throw new ArgumentException($"Unsupported parameter type {arg.GetType()}"),
            });
        }
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }
}
