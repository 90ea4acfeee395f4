using Npgsql;

namespace Feed.Infrastructure.Postgres;

/// <summary>Deletes old rows a batch at a time, so a large purge never holds one long transaction or lock.</summary>
internal static class BatchedDelete
{
    /// <summary>
    /// Runs <paramref name="sql"/> (parameters: $1 the cut-off time, $2 the batch size; it deletes at most
    /// one batch) until a run deletes fewer than <paramref name="batchSize"/> rows.
    /// </summary>
    /// <returns>How many rows were deleted in all.</returns>
    public static async Task<long> RunAsync(NpgsqlDataSource postgres, string sql, DateTimeOffset before, int batchSize, CancellationToken ct)
    {
        var total = 0L;
        int deleted;
        do
        {
            await using var cmd = postgres.CreateCommand(sql);
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = before });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batchSize });
            deleted = await cmd.ExecuteNonQueryAsync(ct);
            total += deleted;
        }
        while (deleted == batchSize);
        return total;
    }
}
