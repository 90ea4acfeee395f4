using System.Diagnostics;
using Npgsql;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// Lets the previous scenario's fan-out finish before the next one starts, so its backlog does not
/// weigh on the next one's figures. Gives up at the timeout, or as soon as the open outbox rows
/// stop going down for <see cref="StuckAfter"/>: rows the workers are not working on (a lost job,
/// a retry waiting) stay open until the outbox relay redelivers them, minutes later.
/// </summary>
public sealed class BacklogSettler(NpgsqlDataSource postgres, TextWriter console)
{
    public static readonly TimeSpan StuckAfter = TimeSpan.FromSeconds(10);

    // "next_attempt_at IS NOT NULL" (always true) lets Postgres use the open-rows index
    // (ix_outbox_open_due) instead of scanning the whole outbox while the service is measured.
    private const string OpenSql = "SELECT count(*) FROM outbox WHERE completed_at IS NULL AND next_attempt_at IS NOT NULL";

    private const string OldestOpenSql = """
        SELECT id, kind, created_at FROM outbox WHERE completed_at IS NULL AND next_attempt_at IS NOT NULL ORDER BY id LIMIT 5
        """;

    /// <returns>Null when the outbox drained; otherwise what was left, for the next scenario's notes.</returns>
    public async Task<string?> SettleAsync(TimeSpan timeout, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        var lowest = long.MaxValue;
        var lowestSince = TimeSpan.Zero;
        TimeSpan? reported = null;
        while (true)
        {
            var open = await CountOpenAsync(ct);
            if (open == 0)
            {
                if (reported is not null)
                {
                    console.WriteLine($"   fan-out backlog drained after {waited.Elapsed.TotalSeconds:0.0} s");
                }
                return null;
            }
            if (open < lowest)
            {
                (lowest, lowestSince) = (open, waited.Elapsed);
            }
            var stuck = waited.Elapsed - lowestSince >= StuckAfter;
            if (stuck || waited.Elapsed >= timeout)
            {
                var note = $"Started with {open} outbox rows still open after waiting {waited.Elapsed.TotalSeconds:0} s for the fan-out backlog" +
                    $"{(stuck ? $" (no progress for {StuckAfter.TotalSeconds:0} s)" : "")}; oldest: {await DescribeOldestAsync(ct)}.";
                console.WriteLine($"   {note}");
                return note;
            }
            if (reported is null || waited.Elapsed - reported >= TimeSpan.FromSeconds(5))
            {
                console.WriteLine($"   waiting for the fan-out backlog: {open} open outbox rows");
                reported = waited.Elapsed;
            }
            await Task.Delay(250, ct);
        }
    }

    private async Task<long> CountOpenAsync(CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(OpenSql);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private async Task<string> DescribeOldestAsync(CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(OldestOpenSql);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            var age = DateTimeOffset.UtcNow - reader.GetFieldValue<DateTimeOffset>(2);
            rows.Add($"id {reader.GetInt64(0)} (kind {reader.GetInt16(1)}, open for {age.TotalSeconds:0} s)");
        }
        return string.Join(", ", rows);
    }
}
