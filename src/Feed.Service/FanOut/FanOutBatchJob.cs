using System.ComponentModel;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// One keyset range of followers' share of an outbox row's fan-out (see <see cref="FanOutRangeWriter"/>),
/// as its own Hangfire job: a large audience is served by every worker in parallel and a failure
/// retries one batch. The batch that reports last completes the row.
/// </summary>
/// <remarks>Idempotent: the range writer's work is, and a batch reports once per generation.</remarks>
public sealed class FanOutBatchJob(NpgsqlDataSource postgres, FanOutRangeWriter writer, FanOutCompletion completion)
{
    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out post {0}: batch {3} (followers {4}..{5}]")]
    [AutomaticRetry(Attempts = 10)]
    public Task RunAsync(
        long postId, long outboxId, int generation, int batchIndex, long afterFollowerId, long lastFollowerId, CancellationToken ct) =>
        RunBatchAsync(postId, outboxId, generation, batchIndex, afterFollowerId, lastFollowerId, ct);

    [Queue(JobQueues.FanOut)]
    [DisplayName("Push merged posts of demoted author {0}: batch {3} (followers {4}..{5}]")]
    [AutomaticRetry(Attempts = 10)]
    public Task RunForAuthorAsync(
        long authorId, long outboxId, int generation, int batchIndex, long afterFollowerId, long lastFollowerId, CancellationToken ct) =>
        RunBatchAsync(null, outboxId, generation, batchIndex, afterFollowerId, lastFollowerId, ct);

    private async Task RunBatchAsync(
        long? postId, long outboxId, int generation, int batchIndex, long after, long last, CancellationToken ct)
    {
        if (await FanOutRow.LoadOpenAsync(postgres, outboxId, ct) is not { } row)
        {
            return; // unknown or already completed by another generation
        }
        await writer.ApplyAsync(row, postId, after, last, ct);
        await completion.CompleteBatchAsync(outboxId, generation, batchIndex, ct);
    }
}
