using System.ComponentModel;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Telemetry;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Outbox;

/// <summary>
/// Recurring: deletes outbox rows whose work was confirmed done longer than
/// <see cref="MaintenanceOptions.CompletedOutboxRetention"/> ago (their fan-out batch records go with
/// them) and <c>Idempotency-Key</c> records older than <see cref="MaintenanceOptions.IdempotencyKeyRetention"/>.
/// Open rows are never touched: re-enqueuing those is the <see cref="OutboxRelay"/>'s job.
/// </summary>
/// <remarks>
/// Deletes in small batches, each its own statement, so it never holds many locks or a long
/// transaction. A job that arrives late for a deleted row finds no open row and does nothing.
/// Guarded by an advisory lock: a second concurrent run skips.
/// </remarks>
public sealed class SweepOutboxJob(
    NpgsqlDataSource postgres,
    FeedMetrics metrics,
    IOptions<MaintenanceOptions> options,
    TimeProvider clock,
    ILogger<SweepOutboxJob> logger)
{
    public const string RecurringJobId = "sweep-outbox";
    private const int BatchSize = 5000;

    private const string DeleteCompletedSql = """
        DELETE FROM outbox WHERE id = ANY(ARRAY(
            SELECT id FROM outbox WHERE completed_at IS NOT NULL AND completed_at < $1 ORDER BY completed_at LIMIT $2))
        """;

    private const string DeleteIdempotencyKeysSql = """
        DELETE FROM idempotency_keys k USING (
            SELECT user_id, key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2) old
        WHERE k.user_id = old.user_id AND k.key = old.key
        """;

    [Queue(JobQueues.Maintenance)]
    [DisplayName("Sweep finished outbox rows and expired idempotency keys")]
    [AutomaticRetry(Attempts = 2)]
    public async Task<SweepOutboxResult> RunAsync(CancellationToken ct)
    {
        await using var guard = await AdvisoryLock.TryAcquireAsync(postgres, RecurringJobId, ct);
        if (guard is null)
        {
            logger.LogInformation("Outbox sweep skipped: another run holds its lock");
            return new SweepOutboxResult(Skipped: true, 0, 0);
        }
        var now = clock.GetUtcNow();
        var outboxRows = await BatchedDelete.RunAsync(postgres, DeleteCompletedSql, now - options.Value.CompletedOutboxRetention, BatchSize, ct);
        var keys = await BatchedDelete.RunAsync(postgres, DeleteIdempotencyKeysSql, now - options.Value.IdempotencyKeyRetention, BatchSize, ct);
        metrics.MaintenanceRemoved(RecurringJobId, outboxRows + keys);
        return new SweepOutboxResult(Skipped: false, outboxRows, keys);
    }
}

/// <summary>What a sweep removed (shown as the job's result in the dashboard).</summary>
public sealed record SweepOutboxResult(bool Skipped, long OutboxRows, long IdempotencyKeys);
