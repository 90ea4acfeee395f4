using System.ComponentModel;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Telemetry;
using Feed.Outbox;
using Feed.Posts;
using Hangfire;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// First step of a post's fan-out (or of its removal after a delete): decides once how the post
/// reaches readers — pushed, or merged at read time for a celebrity author — and for pushed posts
/// has the <see cref="FanOutPlanner"/> write one batch of followers itself, or enqueue one
/// <see cref="FanOutBatchJob"/> per range of followers, so a large audience is served by every
/// worker in parallel and a failure retries one batch.
/// </summary>
/// <remarks>
/// Idempotent: a second run starts a new generation of batches; only the newest generation
/// completes the outbox row, and feed inserts ignore posts already present.
/// </remarks>
public sealed class FanOutPostJob(
    NpgsqlDataSource postgres,
    AuthorTimelineStore timelines,
    FanOutPlanner planner,
    FanOutCompletion completion,
    IBackgroundJobClient jobs,
    FeedMetrics metrics,
    ILogger<FanOutPostJob> logger)
{
    /// <summary>Posts of one <see cref="RunManyAsync"/> job in flight at once.</summary>
    private const int ManyConcurrency = 4;

    // Decides the strategy once: the first fan-out run fixes it from the author's current status.
    private const string DecideSql = """
        WITH decided AS (
            UPDATE posts p SET delivery = CASE WHEN u.is_celebrity THEN 2 ELSE 1 END
            FROM users u
            WHERE p.id = $1 AND u.id = p.author_id AND p.delivery = 0
            RETURNING p.delivery)
        SELECT delivery FROM decided
        UNION ALL
        SELECT delivery FROM posts WHERE id = $1 AND delivery <> 0
        """;

    // A fresh statement, so a fresh snapshot: sees a decision committed while DecideSql waited for the row.
    private const string DecidedSql = "SELECT delivery FROM posts WHERE id = $1";

    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out post {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long postId, long outboxId, CancellationToken ct)
    {
        metrics.PostFanOutRun();
        if (await FanOutRow.LoadOpenAsync(postgres, outboxId, ct) is not { } row)
        {
            return; // unknown or already done
        }
        var authorId = row.AuthorId;
        if (row.Kind == OutboxKind.PostCreated)
        {
            if (row.PostDeleted)
            {
                await completion.CompleteAsync(outboxId, ct);
                return;
            }
            // The API wrote the timeline after commit; this repeats it in case that write was lost.
            await timelines.AddAsync(authorId, [postId]);
        }

        var delivery = await DecideAsync(postId, ct);
        if (delivery != PostDelivery.Pushed)
        {
            // Merged at read time from the author's timeline: nothing to push or remove.
            await completion.CompleteAsync(outboxId, ct);
            return;
        }
        await planner.PlanAsync(outboxId, row.Kind, authorId, postId, ct);
    }

    /// <summary>
    /// The posts that piled up in the dispatcher during a burst, in one job (a few at a time). A post
    /// that fails gets a job of its own, retried on its own; the others are done.
    /// </summary>
    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out a burst of posts")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunManyAsync(long[] postIds, long[] outboxIds, CancellationToken ct)
    {
        var failed = new System.Collections.Concurrent.ConcurrentQueue<int>();
        await Parallel.ForEachAsync(Enumerable.Range(0, postIds.Length), new ParallelOptions { MaxDegreeOfParallelism = ManyConcurrency, CancellationToken = ct },
            async (i, token) =>
            {
                try
                {
                    await RunAsync(postIds[i], outboxIds[i], token);
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    logger.LogWarning(ex, "Fan-out of post {PostId} (outbox {OutboxId}) failed in a burst job; it is retried in a job of its own", postIds[i], outboxIds[i]);
                    failed.Enqueue(i);
                }
            });
        foreach (var i in failed)
        {
            var (postId, outboxId) = (postIds[i], outboxIds[i]);
            jobs.Enqueue<FanOutPostJob>(job => job.RunAsync(postId, outboxId, CancellationToken.None));
        }
    }

    private async Task<PostDelivery> DecideAsync(long postId, CancellationToken ct)
    {
        await using var decide = postgres.CreateCommand(DecideSql);
        decide.Parameters.Add(new NpgsqlParameter<long> { TypedValue = postId });
        if (await decide.ExecuteScalarAsync(ct) is short decided)
        {
            return (PostDelivery)decided;
        }
        // Another run of this job decided while this one waited for the post row: the update then
        // skips the row, and the statement's snapshot, older than that decision, does not show it.
        await using var decidedMeanwhile = postgres.CreateCommand(DecidedSql);
        decidedMeanwhile.Parameters.Add(new NpgsqlParameter<long> { TypedValue = postId });
        return (PostDelivery)(short)(await decidedMeanwhile.ExecuteScalarAsync(ct))!;
    }
}
