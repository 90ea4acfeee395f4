using System.ComponentModel;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Outbox;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// Pushes one post into (or, for a deleted post, removes it from) the feeds of one keyset range
/// of the author's followers, with all Redis writes pipelined. Followers who have not read their
/// feed within the inactivity period are skipped on push: their feeds have expired and are rebuilt
/// when they return.
/// </summary>
/// <remarks>Idempotent: inserting a post already in a feed changes nothing; removing one already gone neither.</remarks>
public sealed class FanOutBatchJob(
    NpgsqlDataSource postgres,
    FeedStore feeds,
    FanOutCompletion completion,
    IOptions<FanOutOptions> fanOutOptions,
    IOptions<FeedOptions> feedOptions,
    TimeProvider clock)
{
    private const string LoadSql = """
        SELECT o.kind, o.completed_at IS NOT NULL, p.author_id, p.deleted_at IS NOT NULL
        FROM outbox o JOIN posts p ON p.id = o.post_id
        WHERE o.id = $1
        """;

    private const string ActiveFollowersSql = """
        SELECT f.follower_id FROM follows f JOIN users u ON u.id = f.follower_id
        WHERE f.followee_id = $1 AND f.follower_id > $2 AND f.follower_id <= $3 AND u.last_feed_read_at >= $4
        """;

    private const string AllFollowersSql = """
        SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2 AND follower_id <= $3
        """;

    /// <summary>
    /// Skip a follower only once their feed has surely expired: the feed lives
    /// <see cref="FanOutOptions.InactiveAfter"/> from its last renewal, and renewals lag recorded
    /// activity by at most the refresh interval.
    /// </summary>
    private readonly TimeSpan _skipAfter =
        fanOutOptions.Value.InactiveAfter + feedOptions.Value.ActivityRefreshInterval + TimeSpan.FromMinutes(1);

    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out post {0}: batch {3} (followers {4}..{5}]")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(
        long postId, long outboxId, int generation, int batchIndex, long afterFollowerId, long lastFollowerId, CancellationToken ct)
    {
        await using var load = postgres.CreateCommand(LoadSql);
        load.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        OutboxKind kind;
        long authorId;
        bool postDeleted;
        await using (var reader = await load.ExecuteReaderAsync(ct))
        {
            if (!await reader.ReadAsync(ct) || reader.GetBoolean(1))
            {
                return; // unknown or already completed by another generation
            }
            kind = (OutboxKind)reader.GetInt16(0);
            authorId = reader.GetInt64(2);
            postDeleted = reader.GetBoolean(3);
        }

        if (kind == OutboxKind.PostCreated)
        {
            if (!postDeleted)
            {
                var followers = await FollowersAsync(ActiveFollowersSql, authorId, afterFollowerId, lastFollowerId, clock.GetUtcNow() - _skipAfter, ct);
                await feeds.PushAsync(followers, postId);
            }
        }
        else
        {
            var followers = await FollowersAsync(AllFollowersSql, authorId, afterFollowerId, lastFollowerId, null, ct);
            await feeds.RemoveAsync(followers, postId);
        }
        await completion.CompleteBatchAsync(outboxId, generation, batchIndex, ct);
    }

    private async Task<List<long>> FollowersAsync(string sql, long authorId, long after, long last, DateTimeOffset? activeSince, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(sql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = authorId });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = last });
        if (activeSince is { } since)
        {
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = since });
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
