using System.ComponentModel;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Telemetry;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Maintenance;

/// <summary>
/// Recurring: deletes records kept for operators and users only for a while, one
/// <see cref="RetentionRule"/> per kind (old digests; old webhook events, whose deliveries and attempt
/// logs go with them). Each rule deletes its oldest rows in small batches, each its own statement.
/// </summary>
/// <remarks>
/// Guarded by an advisory lock: a second concurrent run skips. Digest rows are kept for at least
/// eight days (validated), longer than any period and its delivery window, so a purge can never
/// make a digest due again.
/// </remarks>
public sealed class RetentionJob(
    NpgsqlDataSource postgres,
    FeedMetrics metrics,
    IOptions<MaintenanceOptions> options,
    TimeProvider clock,
    ILogger<RetentionJob> logger)
{
    public const string RecurringJobId = "retention";
    private const int BatchSize = 5000;

    /// <summary>What is purged, and after how long: one rule per table, each with its setting in <see cref="MaintenanceOptions"/>.</summary>
    private static readonly RetentionRule[] Rules =
    [
        new("digests", "digests", "id", "created_at", o => o.DigestRetention),
        // Deliveries and their attempts cascade with the event.
        new("webhook_events", "webhook_events", "id", "created_at", o => o.WebhookRetention),
    ];

    [Queue(JobQueues.Maintenance)]
    [DisplayName("Purge records past their retention (digests, webhook logs)")]
    [AutomaticRetry(Attempts = 2)]
    public async Task<Dictionary<string, long>> RunAsync(CancellationToken ct)
    {
        await using var guard = await AdvisoryLock.TryAcquireAsync(postgres, RecurringJobId, ct);
        if (guard is null)
        {
            logger.LogInformation("Retention skipped: another run holds its lock");
            return [];
        }
        var now = clock.GetUtcNow();
        var removed = new Dictionary<string, long>();
        foreach (var rule in Rules)
        {
            removed[rule.Name] = await PurgeAsync(rule, now - rule.Retention(options.Value), ct);
            metrics.MaintenanceRemoved($"{RecurringJobId}:{rule.Name}", removed[rule.Name]);
        }
        return removed;
    }

    private Task<long> PurgeAsync(RetentionRule rule, DateTimeOffset before, CancellationToken ct)
    {
        // Identifiers come from the constant rules above, never from input.
        var sql = $"""
            DELETE FROM {rule.Table} WHERE {rule.Key} = ANY(ARRAY(
                SELECT {rule.Key} FROM {rule.Table} WHERE {rule.Timestamp} < $1 ORDER BY {rule.Timestamp} LIMIT $2))
            """;
        return BatchedDelete.RunAsync(postgres, sql, before, BatchSize, ct);
    }

    /// <summary>Rows of <paramref name="Table"/> whose <paramref name="Timestamp"/> is older than the retention are deleted, by <paramref name="Key"/>.</summary>
    private sealed record RetentionRule(string Name, string Table, string Key, string Timestamp, Func<MaintenanceOptions, TimeSpan> Retention);
}
