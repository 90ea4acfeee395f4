using System.ComponentModel;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Digests;

/// <summary>
/// Recurring: finds the opted-in users whose local delivery time has come, claims their period
/// (a pending <c>digests</c> row) and enqueues one <see cref="SendDigestJob"/> per user on the
/// <c>digests</c> queue, so one user's failure never holds up another's digest.
/// </summary>
/// <remarks>
/// <para>
/// Works a time zone at a time: the zones in use come from an index (a few hundred at most), the
/// due period is computed once per zone and frequency with the host's tz database, and the zone's
/// users are walked in id order in batches of <see cref="DigestOptions.BatchSize"/>, skipping those
/// whose period is already claimed or done.
/// </para>
/// <para>
/// Safe to run concurrently with itself: a user's job is enqueued only by the run whose insert
/// created (or whose update renewed) the pending row. Like the outbox, a pending row whose job was
/// lost (a flushed queue, a crash between claim and enqueue) is enqueued again
/// <see cref="DigestOptions.RequeueAfter"/> later, while the delivery window is open.
/// </para>
/// </remarks>
public sealed class ScheduleDigestsJob(
    NpgsqlDataSource postgres,
    IBackgroundJobClient jobs,
    IOptions<DigestOptions> options,
    TimeProvider clock,
    ILogger<ScheduleDigestsJob> logger)
{
    public const string RecurringJobId = "schedule-digests";

    // A loose index scan: one index probe per distinct zone instead of reading every opted-in user.
    private const string ZonesSql = """
        WITH RECURSIVE zones AS (
            (SELECT time_zone FROM users WHERE digest_enabled AND email IS NOT NULL ORDER BY time_zone LIMIT 1)
            UNION ALL
            SELECT (SELECT u.time_zone FROM users u
                    WHERE u.digest_enabled AND u.email IS NOT NULL AND u.time_zone > zones.time_zone
                    ORDER BY u.time_zone LIMIT 1)
            FROM zones WHERE zones.time_zone IS NOT NULL)
        SELECT time_zone FROM zones WHERE time_zone IS NOT NULL
        """;

    // Due users of one zone, frequency and period after a keyset position; claims them in the same
    // statement. Returns the last user looked at (for the next batch) and the users claimed now.
    private const string ClaimBatchSql = """
        WITH due AS (
            SELECT u.id FROM users u
            WHERE u.digest_enabled AND u.email IS NOT NULL AND u.time_zone = $1 AND u.digest_frequency = $2 AND u.id > $3
              AND NOT EXISTS (
                  SELECT 1 FROM digests d WHERE d.user_id = u.id AND d.period = $4
                    AND NOT (d.status IN (1, 2) AND d.lease_until < now() AND d.attempts < $7))
            ORDER BY u.id
            LIMIT $5),
        claimed AS (
            INSERT INTO digests (user_id, period, status, lease_until)
            SELECT id, $4, 1, now() + $6 FROM due
            ON CONFLICT (user_id, period) DO UPDATE SET status = 1, lease_until = excluded.lease_until, lease_token = NULL
                WHERE digests.status IN (1, 2) AND digests.lease_until < now() AND digests.attempts < $7
            RETURNING user_id)
        SELECT (SELECT count(*) FROM due), (SELECT max(id) FROM due), ARRAY(SELECT user_id FROM claimed ORDER BY user_id)
        """;

    /// <summary>Enqueues in flight at once per batch.</summary>
    private const int EnqueueParallelism = 8;

    private static readonly DigestFrequency[] Frequencies = [DigestFrequency.Daily, DigestFrequency.Weekly];

    private readonly DigestOptions _options = options.Value;

    /// <summary>Schedules the digests due at <paramref name="now"/> (default: the current time).</summary>
    /// <param name="now">The instant to schedule for; tests and operators can pass another one.</param>
    /// <param name="ct">Stops between batches and zones.</param>
    /// <returns>How many digest jobs were enqueued.</returns>
    [Queue(JobQueues.Maintenance)]
    [DisplayName("Schedule due digests")]
    [AutomaticRetry(Attempts = 2)]
    public async Task<int> RunAsync(DateTimeOffset? now, CancellationToken ct)
    {
        var at = now ?? clock.GetUtcNow();
        var enqueued = 0;
        foreach (var zoneId in await ZonesAsync(ct))
        {
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(zoneId, out var zone))
            {
                logger.LogWarning("Time zone {TimeZone} is not in this host's tz database; its users get no digest until it is", zoneId);
                continue;
            }
            foreach (var frequency in Frequencies)
            {
                if (DigestPeriods.Due(at, zone, frequency, _options) is { } period)
                {
                    enqueued += await ScheduleAsync(zoneId, frequency, period, ct);
                }
            }
        }
        if (enqueued > 0)
        {
            logger.LogInformation("Enqueued {Count} digests due at {Now:o}", enqueued, at);
        }
        return enqueued;
    }

    private async Task<List<string>> ZonesAsync(CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(ZonesSql);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var zones = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            zones.Add(reader.GetString(0));
        }
        return zones;
    }

    private async Task<int> ScheduleAsync(string zoneId, DigestFrequency frequency, string period, CancellationToken ct)
    {
        var after = 0L;
        var enqueued = 0;
        while (true)
        {
            long due;
            long? last;
            long[] claimed;
            await using (var cmd = postgres.CreateCommand(ClaimBatchSql))
            {
                cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = zoneId });
                cmd.Parameters.Add(new NpgsqlParameter<short> { TypedValue = (short)frequency });
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
                cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = period });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.BatchSize });
                cmd.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.RequeueAfter });
                cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxSendAttempts });
                await using var reader = await cmd.ExecuteReaderAsync(ct);
                await reader.ReadAsync(ct);
                due = reader.GetInt64(0);
                last = reader.IsDBNull(1) ? null : reader.GetInt64(1);
                claimed = reader.GetFieldValue<long[]>(2);
            }
            // The claims are committed; a failure from here on leaves pending rows the next runs re-enqueue.
            // Hangfire's client is synchronous, one Redis transaction per job: a few at once hide the round trips.
            Parallel.ForEach(claimed, new ParallelOptions { MaxDegreeOfParallelism = EnqueueParallelism, CancellationToken = ct },
                userId => jobs.Enqueue<SendDigestJob>(job => job.RunAsync(userId, period, CancellationToken.None)));
            enqueued += claimed.Length;
            if (due < _options.BatchSize || last is not { } lastId)
            {
                return enqueued;
            }
            after = lastId;
        }
    }
}
