using System.ComponentModel;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Outbox;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// Recurring: recomputes every user's follower and following counts from the follows table and
/// moves celebrity status with them (same hysteresis as a follow), enqueuing the fan-out of any
/// demotion. Counts are maintained transactionally already; this repairs whatever a manual fix,
/// a bug or a restore left behind.
/// </summary>
/// <remarks>
/// Works through users in id order, a batch per transaction. A batch's rows are locked before its
/// counts are read, so a concurrent follow either commits before the count (and is counted) or
/// waits and adds its own increment after. Safe to run concurrently with itself.
/// </remarks>
public sealed class ReconcileFollowCountsJob(
    NpgsqlDataSource postgres,
    OutboxDispatcher dispatcher,
    ReaderGraphCache readerGraphs,
    IOptions<FanOutOptions> fanOutOptions,
    IOptions<OutboxOptions> outboxOptions,
    ILogger<ReconcileFollowCountsJob> logger)
{
    public const string RecurringJobId = "reconcile-follow-counts";
    private const int BatchSize = 1000;

    private const string LockBatchSql = "SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2 FOR NO KEY UPDATE";

    private const string ReconcileSql = """
        WITH actual AS (
            SELECT u.id, u.is_celebrity AS was_celebrity,
                   (SELECT count(*) FROM follows WHERE followee_id = u.id)::int AS followers,
                   (SELECT count(*) FROM follows WHERE follower_id = u.id)::int AS following
            FROM users u WHERE u.id = ANY($1))
        UPDATE users u SET
            follower_count = a.followers,
            following_count = a.following,
            is_celebrity = CASE WHEN a.followers >= $2 THEN true WHEN a.followers < $3 THEN false ELSE u.is_celebrity END,
            merge_timeline = u.merge_timeline OR a.followers >= $2
        FROM actual a
        WHERE u.id = a.id
          AND (u.follower_count <> a.followers OR u.following_count <> a.following
               OR u.is_celebrity <> (CASE WHEN a.followers >= $2 THEN true WHEN a.followers < $3 THEN false ELSE u.is_celebrity END))
        RETURNING u.id, a.was_celebrity, u.is_celebrity
        """;

    [Queue(JobQueues.Maintenance)]
    [DisplayName("Reconcile follower counts and celebrity status")]
    [AutomaticRetry(Attempts = 3)]
    public async Task RunAsync(CancellationToken ct)
    {
        var after = 0L;
        var repaired = 0;
        var promoted = false;
        while (true)
        {
            var demotions = new List<OutboxWork>();
            await using (var connection = await postgres.OpenConnectionAsync(ct))
            await using (var tx = await connection.BeginTransactionAsync(ct))
            {
                var ids = new List<long>(BatchSize);
                await using (var lockBatch = new NpgsqlCommand(LockBatchSql, connection, tx))
                {
                    lockBatch.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
                    lockBatch.Parameters.Add(new NpgsqlParameter<int> { TypedValue = BatchSize });
                    await using var reader = await lockBatch.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        ids.Add(reader.GetInt64(0));
                    }
                }
                if (ids.Count == 0)
                {
                    break;
                }
                after = ids[^1];

                var demoted = new List<long>();
                await using (var reconcile = new NpgsqlCommand(ReconcileSql, connection, tx))
                {
                    reconcile.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. ids] });
                    reconcile.Parameters.Add(new NpgsqlParameter<int> { TypedValue = fanOutOptions.Value.CelebrityThreshold });
                    reconcile.Parameters.Add(new NpgsqlParameter<int> { TypedValue = fanOutOptions.Value.CelebrityLowerMark });
                    await using var reader = await reconcile.ExecuteReaderAsync(ct);
                    while (await reader.ReadAsync(ct))
                    {
                        repaired++;
                        promoted |= !reader.GetBoolean(1) && reader.GetBoolean(2);
                        if (reader.GetBoolean(1) && !reader.GetBoolean(2))
                        {
                            demoted.Add(reader.GetInt64(0));
                        }
                    }
                }
                foreach (var authorId in demoted)
                {
                    demotions.Add(await FollowService.InsertOutboxAsync(
                        connection, tx, OutboxKind.AuthorDemoted, authorId, null, outboxOptions.Value.RedeliverAfter, ct));
                }
                await tx.CommitAsync(ct);
            }
            demotions.ForEach(dispatcher.Enqueue);
        }
        if (promoted)
        {
            await readerGraphs.BumpGenerationAsync(); // readers must start merging the repaired celebrities
        }
        if (repaired > 0)
        {
            logger.LogWarning("Reconciliation repaired the counts or celebrity status of {Count} users", repaired);
        }
    }
}
