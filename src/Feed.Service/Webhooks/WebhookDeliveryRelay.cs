using Feed.Outbox;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Webhooks;

/// <summary>
/// Enqueues deliveries that are overdue with no job to run them: the hand-over after commit was lost
/// (a crash), a scheduled retry vanished with a flushed Redis, or a worker died holding a lease.
/// Overdue means due for longer than <see cref="WebhookOptions.RedeliverAfter"/>, so a busy queue
/// is not flooded with duplicates; a duplicate job is harmless anyway (the claim is a lease).
/// </summary>
public sealed class WebhookDeliveryRelay(
    NpgsqlDataSource postgres,
    OutboxDispatcher dispatcher,
    IOptions<WebhookOptions> options,
    ILogger<WebhookDeliveryRelay> logger) : BackgroundService
{
    private const int BatchSize = 500;

    // Marking them due "now" both makes the job's claim accept them and keeps the next round off them for RedeliverAfter.
    private const string ClaimSql = """
        UPDATE webhook_deliveries SET next_attempt_at = now()
        WHERE id IN (
            SELECT id FROM webhook_deliveries
            WHERE status IN (1, 3) AND next_attempt_at < now() - $1 AND (lease_until IS NULL OR lease_until < now())
            ORDER BY next_attempt_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED)
        RETURNING id
        """;

    private readonly WebhookOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.RelayInterval);
        do
        {
            try
            {
                while (await RelayOnceAsync(stoppingToken) == BatchSize)
                {
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Webhook delivery relay round failed; retrying in {Interval}", _options.RelayInterval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <returns>How many deliveries were enqueued.</returns>
    public async Task<int> RelayOnceAsync(CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(ClaimSql);
        cmd.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.RedeliverAfter });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = BatchSize });
        var ids = new List<long>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                ids.Add(reader.GetInt64(0));
            }
        }
        foreach (var id in ids)
        {
            dispatcher.Enqueue(new OutboxWork(id, OutboxWork.WebhookDelivery, null, null, null));
        }
        if (ids.Count > 0)
        {
            logger.LogInformation("Webhook delivery relay re-enqueued {Count} overdue deliveries", ids.Count);
        }
        return ids.Count;
    }
}
