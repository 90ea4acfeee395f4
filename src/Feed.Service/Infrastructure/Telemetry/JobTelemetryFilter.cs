using System.Diagnostics;
using System.Reflection;
using Hangfire;
using Hangfire.Client;
using Hangfire.Server;

namespace Feed.Infrastructure.Telemetry;

/// <summary>
/// Carries the trace from the request that enqueued a job into the job (the W3C <c>traceparent</c>
/// is stored as a job parameter), runs the job inside a span of that trace and a logging scope with
/// the job's id and name, and records the job's outcome and duration.
/// </summary>
internal sealed class JobTelemetryFilter(FeedMetrics metrics, ILoggerFactory loggers) : IClientFilter, IServerFilter
{
    private const string TraceParent = "traceparent";
    private const string TraceState = "tracestate";
    private const string StateKey = "feed.telemetry";

    private readonly ILogger _logger = loggers.CreateLogger("Feed.Jobs");

    public void OnCreating(CreatingContext context)
    {
        if (Activity.Current is { } current)
        {
            context.SetJobParameter(TraceParent, current.Id);
            if (current.TraceStateString is { } state)
            {
                context.SetJobParameter(TraceState, state);
            }
        }
    }

    public void OnCreated(CreatedContext context)
    {
    }

    public void OnPerforming(PerformingContext context)
    {
        var job = context.BackgroundJob.Job;
        var name = $"{job.Type.Name}.{job.Method.Name}";
        var queue = job.Queue ?? job.Method.GetCustomAttribute<QueueAttribute>()?.Queue ?? "default";
        ActivityContext.TryParse(
            context.GetJobParameter<string>(TraceParent), context.GetJobParameter<string>(TraceState), out var parent);
        var activity = FeedTracing.Jobs.StartActivity($"job {name}", ActivityKind.Consumer, parent);
        activity?.SetTag("hangfire.job.id", context.BackgroundJob.Id);
        activity?.SetTag("hangfire.queue", queue);
        var scope = _logger.BeginScope(new Dictionary<string, object> { ["JobId"] = context.BackgroundJob.Id, ["Job"] = name });
        context.Items[StateKey] = new State(activity, scope, name, queue, Stopwatch.GetTimestamp());
    }

    public void OnPerformed(PerformedContext context)
    {
        if (context.Items.TryGetValue(StateKey, out var value) && value is State state)
        {
            var failed = context.Exception is not null && !context.ExceptionHandled;
            metrics.JobFinished(state.Queue, state.Name, !failed, Stopwatch.GetElapsedTime(state.Started));
            if (failed)
            {
                state.Activity?.SetStatus(ActivityStatusCode.Error, context.Exception!.GetType().Name);
            }
            state.Activity?.Dispose();
            state.Scope?.Dispose();
        }
    }

    private sealed record State(Activity? Activity, IDisposable? Scope, string Name, string Queue, long Started);
}
