using Feed.Outbox;
using Npgsql;

namespace Feed.FanOut;

/// <summary>What a fan-out job needs of its open outbox row: the kind, the author and whether the post is deleted.</summary>
internal sealed record FanOutRow(OutboxKind Kind, long AuthorId, bool PostDeleted)
{
    // Post work takes the author from the post; author work (a demotion) names the author itself.
    private const string LoadSql = """
        SELECT o.kind, o.completed_at IS NOT NULL, coalesce(p.author_id, o.user_id), coalesce(p.deleted_at IS NOT NULL, false)
        FROM outbox o LEFT JOIN posts p ON p.id = o.post_id
        WHERE o.id = $1
        """;

    /// <returns>The row, or null when it is unknown or already done.</returns>
    public static async Task<FanOutRow?> LoadOpenAsync(NpgsqlDataSource postgres, long outboxId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(LoadSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct) || reader.GetBoolean(1))
        {
            return null;
        }
        return new FanOutRow((OutboxKind)reader.GetInt16(0), reader.GetInt64(2), reader.GetBoolean(3));
    }
}
