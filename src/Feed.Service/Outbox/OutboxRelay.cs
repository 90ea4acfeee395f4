using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Outbox;

/// <summary>
/// Re-enqueues outbox rows whose work was never enqueued or never confirmed done: the slow path
/// that makes a lost enqueue, a crashed API process or a lost Redis cost latency, not work.
/// </summary>
/// <remarks>
/// Rows are claimed with <c>FOR UPDATE SKIP LOCKED</c>, so any number of workers can relay at
/// once without enqueuing the same row twice in one round.
/// </remarks>
public sealed class OutboxRelay(
    NpgsqlDataSource postgres,
    OutboxDispatcher dispatcher,
    IOptions<OutboxOptions> options,
    ILogger<OutboxRelay> logger) : BackgroundService
{
    private const string ClaimSql = """
        SELECT id, kind, post_id, user_id, target_user_id FROM outbox
        WHERE completed_at IS NULL AND next_attempt_at <= now()
        ORDER BY next_attempt_at
        LIMIT $1
        FOR UPDATE SKIP LOCKED
        """;

    private const string RescheduleSql = """
        UPDATE outbox SET next_attempt_at = now() + $2, attempts = attempts + 1 WHERE id = ANY($1)
        """;

    private readonly OutboxOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.RelayInterval);
        do
        {
            try
            {
                while (await RelayOnceAsync(stoppingToken) == _options.RelayBatchSize)
                {
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Outbox relay round failed; retrying in {Interval}", _options.RelayInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Enqueues one round of due rows.</summary>
    /// <returns>How many rows were enqueued.</returns>
    public async Task<int> RelayOnceAsync(CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        var due = new List<OutboxWork>();
        await using (var claim = new NpgsqlCommand(ClaimSql, connection, tx))
        {
            claim.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.RelayBatchSize });
            await using var reader = await claim.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                due.Add(new OutboxWork(
                    reader.GetInt64(0),
                    (OutboxKind)reader.GetInt16(1),
                    reader.IsDBNull(2) ? null : reader.GetInt64(2),
                    reader.IsDBNull(3) ? null : reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetInt64(4)));
            }
        }
        if (due.Count == 0)
        {
            return 0;
        }
        foreach (var work in due)
        {
            dispatcher.Enqueue(work);
        }
        await using (var reschedule = new NpgsqlCommand(RescheduleSql, connection, tx))
        {
            reschedule.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. due.Select(d => d.Id)] });
            reschedule.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.RedeliverAfter });
            await reschedule.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        logger.LogInformation("Outbox relay re-enqueued {Count} unconfirmed rows", due.Count);
        return due.Count;
    }
}
