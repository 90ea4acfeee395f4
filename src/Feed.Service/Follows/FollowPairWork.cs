using Feed.FanOut;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// The frame of a follow change's feed work (<see cref="FollowBackfillJob"/>, <see cref="UnfollowCleanupJob"/>):
/// one transaction holding a per-pair advisory lock, so the jobs of one follower → followee pair run one at
/// a time whatever order they arrive in; the edge is re-read under the lock; the outbox row completes in
/// the same transaction.
/// </summary>
internal static class FollowPairWork
{
    private const string LockSql = "SELECT pg_advisory_xact_lock(hashtextextended($1::text || ':' || $2::text, 7))";

    private const string StateSql = """
        SELECT o.completed_at IS NOT NULL,
               EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2),
               coalesce((SELECT is_celebrity FROM users WHERE id = $2), false)
        FROM outbox o WHERE o.id = $3
        """;

    /// <summary>The edge as it is under the lock.</summary>
    public sealed record State(bool Following, bool FolloweeIsCelebrity);

    /// <summary>Runs <paramref name="work"/> unless the outbox row is unknown or already done, then completes it.</summary>
    public static async Task RunAsync(
        NpgsqlDataSource postgres, long followerId, long followeeId, long outboxId,
        Func<State, NpgsqlConnection, NpgsqlTransaction, Task> work, CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var pairLock = new NpgsqlCommand(LockSql, connection, tx))
        {
            pairLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            pairLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            await pairLock.ExecuteNonQueryAsync(ct);
        }

        State state;
        await using (var load = new NpgsqlCommand(StateSql, connection, tx))
        {
            load.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            load.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            load.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
            await using var reader = await load.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct) || reader.GetBoolean(0))
            {
                return;
            }
            state = new State(reader.GetBoolean(1), reader.GetBoolean(2));
        }
        await work(state, connection, tx);
        await FanOutCompletion.CompleteAsync(connection, tx, outboxId, ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>The author's newest post ids, live only or deleted too.</summary>
    public static async Task<List<long>> RecentPostsAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long authorId, int limit, bool includeDeleted, CancellationToken ct)
    {
        var sql = includeDeleted
            ? "SELECT id FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT $2"
            : "SELECT id FROM posts WHERE author_id = $1 AND deleted_at IS NULL ORDER BY id DESC LIMIT $2";
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = authorId });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }
}
