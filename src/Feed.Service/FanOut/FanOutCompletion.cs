using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// Records finished fan-out work in Postgres. An outbox row is done when every batch of its
/// current generation has reported; until then the relay may enqueue it again.
/// </summary>
public sealed class FanOutCompletion(NpgsqlDataSource postgres)
{
    private const string RecordBatchSql = """
        INSERT INTO fan_out_batches (outbox_id, generation, batch_index) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
        """;

    // Runs after the batch insert has committed, so the batch that commits last sees all the others.
    private const string CompleteIfAllSql = """
        UPDATE outbox SET completed_at = now()
        WHERE id = $1 AND completed_at IS NULL AND generation = $2
          AND batches_total <= (SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1 AND generation = $2)
        """;

    private const string CompleteSql = "UPDATE outbox SET completed_at = now() WHERE id = $1 AND completed_at IS NULL";

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
        await complete.ExecuteNonQueryAsync(ct);
    }

    public async Task CompleteAsync(long outboxId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(CompleteSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
