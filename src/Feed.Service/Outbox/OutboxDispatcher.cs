using Feed.FanOut;
using Hangfire;

namespace Feed.Outbox;

/// <summary>Turns an outbox row into its Hangfire job. Used by the post-commit fast path and by the relay.</summary>
public sealed class OutboxDispatcher(IBackgroundJobClient jobs)
{
    /// <summary>Enqueues the job for an outbox row. Safe to call again: the jobs are idempotent.</summary>
    public void Enqueue(long outboxId, long postId) =>
        jobs.Enqueue<FanOutPostJob>(job => job.RunAsync(postId, outboxId, CancellationToken.None));
}
