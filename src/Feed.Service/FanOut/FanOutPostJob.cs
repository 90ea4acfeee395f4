using System.Collections.Concurrent;
using System.ComponentModel;
using System.Runtime.ExceptionServices;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Telemetry;
using Feed.Outbox;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// First step of a post's fan-out (or of its removal after a delete): decides once how the post
/// reaches readers — pushed, or merged at read time for a celebrity author — writes an audience of
/// one batch itself with the <see cref="FanOutRangeWriter"/>, and has the <see cref="FanOutPlanner"/>
/// enqueue one <see cref="FanOutBatchJob"/> per range of followers for a larger one, so a large
/// audience is served by every worker in parallel and a failure retries one batch.
/// </summary>
/// <remarks>
/// <para>
/// Set-based: a burst of posts (<see cref="RunManyAsync"/>) and a single post (<see cref="RunAsync"/>)
/// take the same path — one read of the open outbox rows, the authors' timelines in one Redis round
/// trip, then one statement (<see cref="PostFanOutTriage"/>) that decides every post, sizes every
/// audience and completes every row needing nothing more (merged posts, authors without followers,
/// posts deleted before their fan-out). What is left is written per post, and the one-batch rows are
/// completed together in one more statement.
/// </para>
/// <para>
/// Idempotent: feed inserts ignore posts already present, a post's delivery is decided once, a row is
/// completed once (only the run that completes it records the fan-out lag), and a second run of a
/// multi-batch post starts a new generation of batches of which only the newest completes the row.
/// Completing a one-batch row without a generation is safe next to any other run of the same row:
/// this run wrote to every follower its query saw, and a follower added after that query is
/// backfilled by the follow's own job.
/// </para>
/// </remarks>
public sealed class FanOutPostJob(
    NpgsqlDataSource postgres,
    AuthorTimelineStore timelines,
    FanOutRangeWriter writer,
    FanOutPlanner planner,
    FanOutCompletion completion,
    IBackgroundJobClient jobs,
    IOptions<FanOutOptions> options,
    FeedMetrics metrics,
    ILogger<FanOutPostJob> logger)
{
    /// <summary>Posts of one burst whose feed writes or batch planning run at once.</summary>
    private const int ManyConcurrency = 4;

    private readonly int _batchSize = options.Value.BatchSize;

    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out post {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long postId, long outboxId, CancellationToken ct)
    {
        metrics.PostFanOutRun();
        if (await FanOutAsync([outboxId], ct) is [var failure, ..])
        {
            ExceptionDispatchInfo.Throw(failure.Error);
        }
    }

    /// <summary>
    /// The posts that piled up in the dispatcher during a burst, in one job: the Postgres work of all
    /// of them in two statements (three when some have one batch of followers). A post that fails gets
    /// a job of its own, retried on its own; the others are done.
    /// </summary>
    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out a burst of posts")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunManyAsync(long[] postIds, long[] outboxIds, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(outboxIds.Length, postIds.Length, nameof(outboxIds));
        metrics.PostFanOutRun(postIds.Length);
        var postOf = new Dictionary<long, long>(outboxIds.Length);
        for (var i = 0; i < outboxIds.Length; i++)
        {
            postOf.TryAdd(outboxIds[i], postIds[i]);
        }
        foreach (var (outboxId, error) in await FanOutAsync([.. postOf.Keys], ct))
        {
            var postId = postOf[outboxId];
            logger.LogWarning(error, "Fan-out of post {PostId} (outbox {OutboxId}) failed in a burst job; it is retried in a job of its own", postId, outboxId);
            jobs.Enqueue<FanOutPostJob>(job => job.RunAsync(postId, outboxId, CancellationToken.None));
        }
    }

    /// <summary>Fans out the post work of <paramref name="outboxIds"/> (distinct ids).</summary>
    /// <returns>The rows whose work failed (still open, or open again on the next run), with the error.</returns>
    private async Task<List<(long OutboxId, Exception Error)>> FanOutAsync(long[] outboxIds, CancellationToken ct)
    {
        var failed = new List<(long, Exception)>();
        List<OpenPostRow> open;
        try
        {
            open = await PostFanOutTriage.LoadOpenAsync(postgres, outboxIds, ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            return [.. outboxIds.Select(id => (id, ex))];
        }
        if (open.Count == 0)
        {
            return failed; // unknown or already done
        }

        // The API wrote the timeline after commit; this repeats it in case that write was lost, one
        // script call per author, all in one round trip. It precedes the triage, which may complete
        // the row: a post whose timeline write failed stays open for its retry.
        var timelineFailed = await AddToTimelinesAsync(open, ct);
        failed.AddRange(timelineFailed);
        long[] ready = [.. open.Select(r => r.OutboxId).Except(timelineFailed.Select(f => f.OutboxId))];
        if (ready.Length == 0)
        {
            return failed;
        }

        TriageResult triage;
        try
        {
            triage = await PostFanOutTriage.TriageAsync(postgres, ready, _batchSize, ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            failed.AddRange(ready.Select(id => (id, ex)));
            return failed;
        }
        foreach (var row in triage.Completed)
        {
            completion.Completed(row.Kind, row.LagSeconds);
        }
        if (triage.Work.Count == 0)
        {
            return failed;
        }

        // Each post's followers: one batch written here, several planned as batch jobs.
        var written = new ConcurrentQueue<long>();
        var workFailed = new ConcurrentQueue<(long, Exception)>();
        await Parallel.ForEachAsync(triage.Work, new ParallelOptions { MaxDegreeOfParallelism = ManyConcurrency, CancellationToken = ct },
            async (work, token) =>
            {
                try
                {
                    if (work.SeveralBatches)
                    {
                        await planner.PlanAsync(work.OutboxId, work.Kind, work.AuthorId, work.PostId, token);
                    }
                    else
                    {
                        await writer.ApplyAsync(new FanOutRow(work.Kind, work.AuthorId, PostDeleted: false), work.PostId, 0, long.MaxValue, token);
                        written.Enqueue(work.OutboxId);
                    }
                }
                catch (Exception ex) when (!token.IsCancellationRequested)
                {
                    workFailed.Enqueue((work.OutboxId, ex));
                }
            });
        failed.AddRange(workFailed);
        try
        {
            await completion.CompleteAsync([.. written], ct);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            failed.AddRange(written.Select(id => (id, ex)));
        }
        return failed;
    }

    /// <summary>Adds the live posts of <paramref name="open"/>'s PostCreated rows to their authors' timelines.</summary>
    /// <returns>The rows whose timeline write failed.</returns>
    private async Task<List<(long OutboxId, Exception Error)>> AddToTimelinesAsync(List<OpenPostRow> open, CancellationToken ct)
    {
        var byAuthor = open.Where(r => r.Kind == OutboxKind.PostCreated && !r.PostDeleted).GroupBy(r => r.AuthorId).ToList();
        var writes = byAuthor.Select(g => timelines.AddAsync(g.Key, [.. g.Select(r => r.PostId)])).ToList();
        var failed = new List<(long, Exception)>();
        for (var i = 0; i < writes.Count; i++)
        {
            try
            {
                await writes[i];
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                failed.AddRange(byAuthor[i].Select(r => (r.OutboxId, ex)));
            }
        }
        return failed;
    }
}
