using Feed.Infrastructure.Telemetry;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// Records finished fan-out work in Postgres. An outbox row is done when every batch of its
/// current generation has reported; until then the relay may enqueue it again. Completing a
/// demotion also stops readers merging the author's timeline (unless they are a celebrity again).
/// </summary>
public sealed class FanOutCompletion(NpgsqlDataSource postgres, FeedMetrics metrics)
{
    private const string RecordBatchSql = """
        INSERT INTO fan_out_batches (outbox_id, generation, batch_index) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
        """;

    // Runs after the batch insert has committed, so the batch that commits last sees all the others.
    private const string CompleteIfAllSql = """
        WITH done AS (
            UPDATE outbox SET completed_at = now()
            WHERE id = $1 AND completed_at IS NULL AND generation = $2
              AND batches_total <= (SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1 AND generation = $2)
            RETURNING id, kind, user_id, created_at)
        """ + StopMergingSql;

    // $1: the rows, an array (one row or the one-batch rows of a burst).
    private const string CompleteSql = """
        WITH done AS (
            UPDATE outbox SET completed_at = now() WHERE id = ANY($1) AND completed_at IS NULL RETURNING id, kind, user_id, created_at)
        """ + StopMergingSql;

    // A finished demotion stops the merge only if no other demotion of the author is still open: an
    // older one finishing after a re-promotion and a new demotion must not cut the new one short.
    // (The rows completed here still look open to this statement's snapshot, hence NOT IN done.)
    // Returns each row's kind and its lag (commit to done) when this call completed it.
    private const string StopMergingSql = """
        , stop AS (
            UPDATE users u SET merge_timeline = u.is_celebrity
            FROM done
            WHERE done.kind = 5 AND u.id = done.user_id
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.kind = 5 AND o.user_id = done.user_id AND o.completed_at IS NULL
                                AND o.id NOT IN (SELECT id FROM done)))
        SELECT kind, extract(epoch FROM clock_timestamp() - created_at)::float8 FROM done
        """;

    public async Task CompleteBatchAsync(long outboxId, int generation, int batchIndex, CancellationToken ct)
    {
        await using (var record = postgres.CreateCommand(RecordBatchSql))
        {
            record.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = generation });
            record.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batchIndex });
            await record.ExecuteNonQueryAsync(ct);
        }
        await using var complete = postgres.CreateCommand(CompleteIfAllSql);
        complete.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        complete.Parameters.Add(new NpgsqlParameter<int> { TypedValue = generation });
        await RecordAsync(complete, ct);
    }

    /// <summary>Completes an outbox row whose work needed no batches (or was done in one step).</summary>
    public Task CompleteAsync(long outboxId, CancellationToken ct) => CompleteAsync([outboxId], ct);

    /// <summary>
    /// Completes outbox rows whose work needed no batches (or was done in one step) in one statement,
    /// one commit: the one-batch posts of a burst.
    /// </summary>
    public async Task CompleteAsync(long[] outboxIds, CancellationToken ct)
    {
        if (outboxIds.Length == 0)
        {
            return;
        }
        await using var cmd = postgres.CreateCommand(CompleteSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = outboxIds });
        await RecordAsync(cmd, ct);
    }

    /// <summary>Completes an outbox row inside the caller's transaction.</summary>
    public static async Task CompleteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long outboxId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(CompleteSql, connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [outboxId] });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Records the fan-out lag of a post's outbox row that was just completed (by this class or elsewhere).</summary>
    internal void Completed(Outbox.OutboxKind kind, double lagSeconds)
    {
        if (kind == Outbox.OutboxKind.PostCreated)
        {
            metrics.FanOutCompleted(TimeSpan.FromSeconds(lagSeconds));
        }
    }

    private async Task RecordAsync(NpgsqlCommand complete, CancellationToken ct)
    {
        await using var reader = await complete.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            Completed((Outbox.OutboxKind)reader.GetInt16(0), reader.GetDouble(1));
        }
    }
}
