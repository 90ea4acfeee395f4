using System.Diagnostics;
using System.Threading.Channels;
using Feed.Infrastructure.Telemetry;
using Feed.FanOut;
using Feed.Follows;
using Feed.Webhooks;
using Hangfire;

namespace Feed.Outbox;

/// <summary>
/// Turns an outbox row (or a webhook delivery) into its Hangfire job. Request handlers hand work over with
/// <see cref="EnqueueSoon"/> and return at once: Hangfire's client is synchronous, and a burst of
/// requests blocking thread-pool threads on it would starve the process. A background loop
/// enqueues; anything lost in between (a crash) is redone by the outbox relay (or the webhook delivery relay).
/// </summary>
public sealed class OutboxDispatcher(IBackgroundJobClient jobs, ILogger<OutboxDispatcher> logger) : BackgroundService
{
    private const int Capacity = 100_000;

    /// <summary>Hand-overs taken from the channel at once.</summary>
    private const int MaxDrain = 256;

    /// <summary>Posts fanned out by one job when they pile up (each small audience is written inline, see FanOutPlanner).</summary>
    public const int MaxPostsPerJob = 16;

    private readonly Channel<OutboxWork> _pending = Channel.CreateBounded<OutboxWork>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    /// <summary>Hands work to the background enqueuer. Never blocks; if the hand-over is full, the relay picks the row up later.</summary>
    public void EnqueueSoon(OutboxWork work)
    {
        // The trace travels with the hand-over, so the job joins the request's trace.
        if (!_pending.Writer.TryWrite(work with { TraceParent = Activity.Current?.Id }))
        {
            logger.LogWarning("Enqueue hand-over full; outbox row {OutboxId} is left to the relay", work.Id);
        }
    }

    /// <summary>Hands webhook deliveries (committed with the change that caused them) to the background enqueuer.</summary>
    public void EnqueueDeliveriesSoon(IEnumerable<long> deliveryIds)
    {
        foreach (var id in deliveryIds)
        {
            EnqueueSoon(new OutboxWork(id, OutboxWork.WebhookDelivery, null, null, null));
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var drained = new List<OutboxWork>(MaxDrain);
        try
        {
            while (await _pending.Reader.WaitToReadAsync(stoppingToken))
            {
                Drain(drained);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: hand what is already accepted to Hangfire rather than to the relay's next round.
            while (_pending.Reader.TryPeek(out _))
            {
                Drain(drained);
            }
        }
    }

    /// <summary>
    /// Enqueues everything handed over by now. Post work that piled up while the previous enqueues
    /// ran goes in jobs of up to <see cref="MaxPostsPerJob"/> posts: under a burst, one Hangfire
    /// enqueue, fetch and state change serves many posts; one post alone still gets its own job.
    /// </summary>
    private void Drain(List<OutboxWork> drained)
    {
        drained.Clear();
        while (drained.Count < MaxDrain && _pending.Reader.TryRead(out var work))
        {
            drained.Add(work);
        }
        var posts = drained.Where(w => w.Kind is OutboxKind.PostCreated or OutboxKind.PostDeleted).ToList();
        foreach (var work in drained.Where(w => w.Kind is not (OutboxKind.PostCreated or OutboxKind.PostDeleted)))
        {
            TryEnqueue(work);
        }
        foreach (var chunk in posts.Chunk(MaxPostsPerJob))
        {
            if (chunk.Length == 1)
            {
                TryEnqueue(chunk[0]);
            }
            else
            {
                TryEnqueuePosts(chunk);
            }
        }
    }

    private void TryEnqueuePosts(OutboxWork[] works)
    {
        // The job joins the first request's trace.
        ActivityContext.TryParse(works[0].TraceParent, null, out var parent);
        using var span = FeedTracing.Jobs.StartActivity("enqueue outbox work", ActivityKind.Producer, parent);
        span?.SetTag("feed.outbox.count", works.Length);
        long[] postIds = [.. works.Select(w => w.PostId!.Value)];
        long[] outboxIds = [.. works.Select(w => w.Id)];
        try
        {
            jobs.Enqueue<FanOutPostJob>(job => job.RunManyAsync(postIds, outboxIds, CancellationToken.None));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Outbox rows {OutboxIds} were not enqueued; the outbox relay will retry them", string.Join(", ", outboxIds));
        }
    }

    private void TryEnqueue(OutboxWork work)
    {
        ActivityContext.TryParse(work.TraceParent, null, out var parent);
        using var span = FeedTracing.Jobs.StartActivity("enqueue outbox work", ActivityKind.Producer, parent);
        span?.SetTag("feed.outbox.id", work.Id);
        try
        {
            Enqueue(work);
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Outbox row {OutboxId} ({Kind}) was not enqueued; the outbox relay will retry it", work.Id, work.Kind);
        }
    }

    /// <summary>Enqueues the job for an outbox row now. Safe to call again: every job is idempotent.</summary>
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
            case OutboxWork.WebhookDelivery:
                jobs.Enqueue<DeliverWebhookJob>(job => job.RunAsync(work.Id, CancellationToken.None));
                break;
            case OutboxKind.AuthorDemoted:
                jobs.Enqueue<DemotedAuthorFanOutJob>(job => job.RunAsync(work.UserId!.Value, work.Id, CancellationToken.None));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(work), work.Kind, "Unknown outbox kind.");
        }
    }
}

/// <summary>What the dispatcher needs of an outbox row (and the trace of the request that wrote it).</summary>
public sealed record OutboxWork(long Id, OutboxKind Kind, long? PostId, long? UserId, long? TargetUserId, string? TraceParent = null)
{
    /// <summary>Not an outbox row: a webhook delivery (its own table is its outbox), <see cref="Id"/> being the delivery's.</summary>
    public const OutboxKind WebhookDelivery = (OutboxKind)100;

    public static OutboxWork From(OutboxMessage m) => new(m.Id, m.Kind, m.PostId, m.UserId, m.TargetUserId);
}
