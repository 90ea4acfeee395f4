using Feed.FanOut;
using Feed.Follows;
using Hangfire;

namespace Feed.Outbox;

/// <summary>Turns an outbox row into its Hangfire job. Used by the after-commit fast path and by the relay.</summary>
public sealed class OutboxDispatcher(IBackgroundJobClient jobs)
{
    /// <summary>Enqueues the job for an outbox row. Safe to call again: every job is idempotent.</summary>
    public void Enqueue(OutboxWork work)
    {
        switch (work.Kind)
        {
            case OutboxKind.PostCreated or OutboxKind.PostDeleted:
                jobs.Enqueue<FanOutPostJob>(job => job.RunAsync(work.PostId!.Value, work.Id, CancellationToken.None));
                break;
            case OutboxKind.FollowCreated:
                jobs.Enqueue<FollowBackfillJob>(job => job.RunAsync(work.UserId!.Value, work.TargetUserId!.Value, work.Id, CancellationToken.None));
                break;
            case OutboxKind.FollowRemoved:
                jobs.Enqueue<UnfollowCleanupJob>(job => job.RunAsync(work.UserId!.Value, work.TargetUserId!.Value, work.Id, CancellationToken.None));
                break;
            case OutboxKind.AuthorDemoted:
                jobs.Enqueue<DemotedAuthorFanOutJob>(job => job.RunAsync(work.UserId!.Value, work.Id, CancellationToken.None));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(work), work.Kind, "Unknown outbox kind.");
        }
    }
}

/// <summary>What the dispatcher needs of an outbox row.</summary>
public sealed record OutboxWork(long Id, OutboxKind Kind, long? PostId, long? UserId, long? TargetUserId)
{
    public static OutboxWork From(OutboxMessage m) => new(m.Id, m.Kind, m.PostId, m.UserId, m.TargetUserId);
}
