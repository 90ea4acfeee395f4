using System.ComponentModel;
using Feed.FanOut;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Telemetry;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Feeds;

/// <summary>
/// Recurring: walks every stored home feed and keeps it within policy. Feeds of readers inactive for
/// longer than <see cref="FanOutOptions.InactiveAfter"/> (or of users that no longer exist) are
/// dropped: fan-out no longer writes to them, so they would only go stale, and the reader's next
/// visit rebuilds theirs. The others are trimmed to <see cref="FeedOptions.FeedCap"/> and get a
/// lifetime of at most the inactivity period. Inserts already do both; this repairs what a lowered
/// cap or period, or a key that lost its expiry, left behind.
/// </summary>
/// <remarks>
/// Reads keys with SCAN on every primary (never KEYS), in batches of <see cref="BatchSize"/>: one
/// Postgres query and one pipelined Redis round trip per batch. Dropping a feed is always safe (a
/// read rebuilds it from Postgres), so a reader who comes back during the walk costs only a rebuild.
/// Guarded by an advisory lock: a second concurrent run skips.
/// </remarks>
public sealed class TrimFeedsJob(
    NpgsqlDataSource postgres,
    FeedStore feeds,
    FeedMetrics metrics,
    IOptions<FanOutOptions> fanOutOptions,
    TimeProvider clock,
    ILogger<TrimFeedsJob> logger)
{
    public const string RecurringJobId = "trim-feeds";
    private const int BatchSize = 500;

    private const string ActiveSql = "SELECT id FROM users WHERE id = ANY($1) AND last_feed_read_at >= $2";

    [Queue(JobQueues.Maintenance)]
    [DisplayName("Trim home feeds: cap, lifetime, inactive readers")]
    [AutomaticRetry(Attempts = 2)]
    public async Task<TrimFeedsResult> RunAsync(CancellationToken ct)
    {
        await using var guard = await AdvisoryLock.TryAcquireAsync(postgres, RecurringJobId, ct);
        if (guard is null)
        {
            logger.LogInformation("Feed trimming skipped: another run holds its lock");
            return new TrimFeedsResult(Skipped: true, 0, 0, 0);
        }
        var activeSince = clock.GetUtcNow() - fanOutOptions.Value.InactiveAfter;
        var result = new TrimFeedsResult(Skipped: false, 0, 0, 0);
        var batch = new List<long>(BatchSize);
        await foreach (var userId in feeds.ScanUserIdsAsync(ct))
        {
            batch.Add(userId);
            if (batch.Count == BatchSize)
            {
                result = result.Add(await TrimBatchAsync(batch, activeSince, ct));
                batch.Clear();
            }
        }
        if (batch.Count > 0)
        {
            result = result.Add(await TrimBatchAsync(batch, activeSince, ct));
        }
        metrics.MaintenanceRemoved(RecurringJobId, result.FeedsDropped + result.EntriesRemoved);
        return result;
    }

    private async Task<TrimFeedsResult> TrimBatchAsync(List<long> userIds, DateTimeOffset activeSince, CancellationToken ct)
    {
        var active = new HashSet<long>(userIds.Count);
        await using (var cmd = postgres.CreateCommand(ActiveSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. userIds] });
            cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = activeSince });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                active.Add(reader.GetInt64(0));
            }
        }
        var dropped = await feeds.DeleteManyAsync([.. userIds.Where(id => !active.Contains(id))]);
        var removed = await feeds.TrimAsync([.. active]);
        return new TrimFeedsResult(Skipped: false, userIds.Count, dropped, removed);
    }
}

/// <summary>What a trimming run did (shown as the job's result in the dashboard).</summary>
public sealed record TrimFeedsResult(bool Skipped, long FeedsSeen, long FeedsDropped, long EntriesRemoved)
{
    public TrimFeedsResult Add(TrimFeedsResult other) =>
        this with
        {
            FeedsSeen = FeedsSeen + other.FeedsSeen,
            FeedsDropped = FeedsDropped + other.FeedsDropped,
            EntriesRemoved = EntriesRemoved + other.EntriesRemoved,
        };
}
