using System.ComponentModel;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// After a follow, copies the followee's recent posts (<see cref="FanOutOptions.FollowBackfillCount"/>)
/// into the follower's feed, if that feed exists (a missing one is rebuilt whole on the next read).
/// Celebrity followees are skipped: their posts are merged at read time anyway.
/// </summary>
/// <remarks>
/// Runs under the same per-pair advisory lock as <see cref="UnfollowCleanupJob"/> and re-checks the
/// edge, so a follow, unfollow, follow sequence converges whatever order its jobs run in.
/// </remarks>
public sealed class FollowBackfillJob(NpgsqlDataSource postgres, FeedStore feeds, IOptions<FanOutOptions> options)
{
    private const string StateSql = """
        SELECT o.completed_at IS NOT NULL,
               EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2),
               (SELECT is_celebrity FROM users WHERE id = $2)
        FROM outbox o WHERE o.id = $3
        """;

    private const string RecentPostsSql =
        "SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2";

    [Queue(JobQueues.FanOut)]
    [DisplayName("Backfill posts of {1} into the feed of {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long followerId, long followeeId, long outboxId, CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await PairLock.AcquireAsync(connection, tx, followerId, followeeId, ct);

        bool done, following, celebrity;
        await using (var state = new NpgsqlCommand(StateSql, connection, tx))
        {
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
            await using var reader = await state.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return;
            }
            (done, following, celebrity) = (reader.GetBoolean(0), reader.GetBoolean(1), !reader.IsDBNull(2) && reader.GetBoolean(2));
        }
        if (done)
        {
            return;
        }
        if (following && !celebrity && options.Value.FollowBackfillCount > 0)
        {
            var posts = new List<long>();
            await using (var recent = new NpgsqlCommand(RecentPostsSql, connection, tx))
            {
                recent.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
                recent.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.Value.FollowBackfillCount });
                await using var reader = await recent.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    posts.Add(reader.GetInt64(0));
                }
            }
            if (posts.Count > 0)
            {
                await feeds.AddAsync(followerId, posts);
            }
        }
        await FanOutCompletion.CompleteAsync(connection, tx, outboxId, ct);
        await tx.CommitAsync(ct);
    }
}

/// <summary>Serialises the feed work of one follower → followee pair across all workers.</summary>
internal static class PairLock
{
    public static async Task AcquireAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long followerId, long followeeId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 7))", connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
