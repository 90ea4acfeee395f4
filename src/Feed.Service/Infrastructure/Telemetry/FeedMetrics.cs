using System.Diagnostics;
using System.Diagnostics.Metrics;
using Feed.Infrastructure.Protection;

namespace Feed.Infrastructure.Telemetry;

/// <summary>
/// The service's own metrics (meter <c>Feed</c>), exported with the ASP.NET Core and runtime ones at
/// <c>/metrics</c>. docs/operations.md says what each means and which alert to set.
/// </summary>
public sealed class FeedMetrics
{
    public const string MeterName = "Feed";

    /// <summary>Seconds from a post's commit until its last fan-out batch is done.</summary>
    public const string FanOutLagName = "feed.fanout.lag";

    /// <summary>Posts whose fan-out ran (one per post of a burst job too).</summary>
    public const string PostFanOutRunsName = "feed.fanout.post_runs";

    public const string JobDurationName = "feed.job.duration";

    private readonly Histogram<double> _fanOutLag;
    private readonly Counter<long> _feedInserts;
    private readonly Counter<long> _postFanOuts;
    private readonly Counter<long> _jobs;
    private readonly Histogram<double> _jobDuration;
    private readonly Counter<long> _postCache;
    private readonly Counter<long> _rebuilds;
    private readonly Counter<long> _webhookAttempts;
    private readonly Histogram<double> _webhookAttemptDuration;
    private readonly Counter<long> _webhookDeadLetters;
    private readonly Counter<long> _webhookCircuitsOpened;
    private readonly Counter<long> _webhookEndpointsDisabled;
    private readonly Counter<long> _digests;
    private readonly Counter<long> _maintenanceRemoved;

    public FeedMetrics(IMeterFactory meters, FanOutBacklog backlog)
    {
        var meter = meters.Create(MeterName);
        _fanOutLag = meter.CreateHistogram<double>(FanOutLagName, "s", "Time from a post's commit until its last fan-out batch is done.");
        _feedInserts = meter.CreateCounter<long>("feed.fanout.inserts", "{insert}", "Post ids pushed into home feeds.");
        _postFanOuts = meter.CreateCounter<long>(PostFanOutRunsName, "{post}", "Runs of a post's fan-out (one per post of a burst job too).");
        _jobs = meter.CreateCounter<long>("feed.jobs", "{job}", "Background jobs finished, by queue, job and outcome.");
        _jobDuration = meter.CreateHistogram<double>(JobDurationName, "s", "Background job run time, by queue and job.");
        _postCache = meter.CreateCounter<long>("feed.post_cache.lookups", "{lookup}", "Post cache lookups while hydrating feeds, by result (hit, miss).");
        _rebuilds = meter.CreateCounter<long>("feed.rebuilds", "{rebuild}", "Feeds and timelines rebuilt from Postgres because Redis had none.");
        _webhookAttempts = meter.CreateCounter<long>("feed.webhooks.attempts", "{attempt}", "Webhook delivery attempts, by outcome and status class.");
        _webhookAttemptDuration = meter.CreateHistogram<double>("feed.webhooks.attempt.duration", "s", "Time from sending a webhook until its response (or timeout).");
        _webhookDeadLetters = meter.CreateCounter<long>("feed.webhooks.dead_letters", "{delivery}", "Webhook deliveries dead-lettered (every attempt failed, or the endpoint was disabled).");
        _webhookCircuitsOpened = meter.CreateCounter<long>("feed.webhooks.circuits_opened", "{endpoint}", "Webhook endpoints whose circuit breaker opened.");
        _webhookEndpointsDisabled = meter.CreateCounter<long>("feed.webhooks.endpoints_disabled", "{endpoint}", "Webhook endpoints disabled, by reason (gone, failing).");
        _digests = meter.CreateCounter<long>("feed.digests", "{digest}",
            "Digest attempts by outcome: sent, nothing_new (skipped: nothing to tell), failed (will be retried unless it was the last attempt).");
        _maintenanceRemoved = meter.CreateCounter<long>("feed.maintenance.removed", "{item}",
            "Rows, feeds and feed entries removed by the maintenance crons, by job.");
        meter.CreateObservableGauge("feed.queue.depth", () => backlog.Current.QueueDepths
            .Select(q => new Measurement<long>(q.Value, new KeyValuePair<string, object?>("queue", q.Key))),
            "{job}", "Jobs waiting per Hangfire queue.");
        meter.CreateObservableGauge("feed.outbox.backlog", () => backlog.Current.OpenOutbox,
            "{row}", "Outbox rows whose work is not confirmed done (capped just above the backpressure limit).");
        meter.CreateObservableGauge("feed.backpressure.active", () => backlog.Current.Overloaded ? 1 : 0,
            description: "1 while new posts are refused because of the fan-out backlog.");
    }

    public void FanOutCompleted(TimeSpan lag) => _fanOutLag.Record(lag.TotalSeconds);

    public void FeedInserts(int count) => _feedInserts.Add(count);

    /// <summary>Counts runs of posts' fan-out: one per post, also for each post of a burst job.</summary>
    public void PostFanOutRun(int posts = 1) => _postFanOuts.Add(posts);

    public void JobFinished(string queue, string job, bool succeeded, TimeSpan duration)
    {
        var tags = new TagList { { "queue", queue }, { "job", job } };
        _jobDuration.Record(duration.TotalSeconds, tags);
        tags.Add("outcome", succeeded ? "succeeded" : "failed");
        _jobs.Add(1, tags);
    }

    public void PostCacheLookups(int hits, int misses)
    {
        _postCache.Add(hits, new KeyValuePair<string, object?>("result", "hit"));
        _postCache.Add(misses, new KeyValuePair<string, object?>("result", "miss"));
    }

    public void WebhookAttempt(bool succeeded, int? statusCode, TimeSpan duration)
    {
        var tags = new TagList
        {
            { "outcome", succeeded ? "succeeded" : "failed" },
            { "status_class", statusCode is { } code ? $"{code / 100}xx" : "none" },
        };
        _webhookAttempts.Add(1, tags);
        _webhookAttemptDuration.Record(duration.TotalSeconds, tags);
    }

    public void WebhookDeadLettered() => _webhookDeadLetters.Add(1);

    public void WebhookCircuitOpened() => _webhookCircuitsOpened.Add(1);

    public void WebhookEndpointDisabled(string reason) => _webhookEndpointsDisabled.Add(1, new KeyValuePair<string, object?>("reason", reason));
    public void DigestSent() => _digests.Add(1, new KeyValuePair<string, object?>("outcome", "sent"));

    public void DigestNothingNew() => _digests.Add(1, new KeyValuePair<string, object?>("outcome", "nothing_new"));

    public void DigestFailed() => _digests.Add(1, new KeyValuePair<string, object?>("outcome", "failed"));

    public void MaintenanceRemoved(string job, long count) => _maintenanceRemoved.Add(count, new KeyValuePair<string, object?>("job", job));

    public void Rebuilt(string kind) => _rebuilds.Add(1, new KeyValuePair<string, object?>("kind", kind));
}

/// <summary>Tracing names shared by the service.</summary>
public static class FeedTracing
{
    public const string JobsSourceName = "Feed.Jobs";

    public static readonly ActivitySource Jobs = new(JobsSourceName);
}
