using System.ComponentModel.DataAnnotations;

namespace Feed.Infrastructure.Hangfire;

/// <summary>
/// Which roles this process plays and, as a worker, which queues it serves with how many workers.
/// Bound from the <c>Service</c> configuration section.
/// </summary>
/// <remarks>
/// Every served queue gets its own Hangfire server with its own workers, so a backlog on one queue
/// (thousands of digests, a slow webhook endpoint) can never occupy the workers of another.
/// </remarks>
public sealed class WorkerOptions : IValidatableObject
{
    public const string Section = "Service";

    /// <summary>Comma-separated: <c>api</c>, <c>worker</c>, or both (the default).</summary>
    public string Roles { get; set; } = "api,worker";

    /// <summary>Comma-separated queues this worker serves (default: all).</summary>
    public string Queues { get; set; } = string.Join(",", JobQueues.All);

    /// <summary>Workers per queue; queues not listed get <see cref="JobQueues.DefaultWorkers"/>.</summary>
    public Dictionary<string, int> Workers { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long a stopping worker lets running jobs finish before cancelling them (they are then re-queued).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(25);

    /// <summary>
    /// How long a job fetched by a worker may stay unfinished before Hangfire gives it to another
    /// worker: the recovery time for jobs of a killed worker process (SIGKILL, OOM, lost machine).
    /// Hangfire.Redis's own default is 30 minutes. A job still running when this passes is run a
    /// second time concurrently, which every job here tolerates (they are idempotent), so keep it
    /// above the longest normal job run, not far above. Storage-wide: every process should use the same value.
    /// </summary>
    public TimeSpan InvisibilityTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often each Hangfire server reports itself alive (and re-registers after a lost Redis).</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often scheduled jobs (webhook retries) are moved to their queue once due. Hangfire's default
    /// of 15 s would stretch a 5 s retry to 20 s; polling is one cheap Redis query.
    /// </summary>
    public TimeSpan SchedulePollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Thread-pool threads available at once before the pool's slow growth kicks in. Hangfire's
    /// storage client is synchronous; a burst must not starve the threads Redis replies complete on.
    /// </summary>
    [Range(8, 4096)]
    public int MinThreadPoolThreads { get; set; } = 128;

    public bool IsApi => Split(Roles).Contains("api", StringComparer.OrdinalIgnoreCase);

    public bool IsWorker => Split(Roles).Contains("worker", StringComparer.OrdinalIgnoreCase);

    public IReadOnlyList<string> ServedQueues => Split(Queues);

    public int WorkersFor(string queue) =>
        Workers.TryGetValue(queue, out var count) ? count : JobQueues.DefaultWorkers[queue];

    private static string[] Split(string list) =>
        list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var roles = Split(Roles);
        if (roles.Length == 0 || roles.Any(r => r is not ("api" or "worker")))
        {
            yield return new ValidationResult($"Service:Roles must be 'api', 'worker' or 'api,worker', not '{Roles}'.");
        }
        var queues = Split(Queues);
        var unknown = queues.Concat(Workers.Keys).Where(q => !JobQueues.All.Contains(q)).Distinct().ToArray();
        if (queues.Length == 0 || unknown.Length > 0)
        {
            yield return new ValidationResult(
                $"Service:Queues and Service:Workers must name queues among: {string.Join(", ", JobQueues.All)} (unknown: {string.Join(", ", unknown)}).");
        }
        foreach (var (queue, count) in Workers)
        {
            if (count is < 1 or > 500)
            {
                yield return new ValidationResult($"Service:Workers:{queue} must be between 1 and 500, not {count}.");
            }
        }
        if (HeartbeatInterval < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Service:HeartbeatInterval must be at least one second.");
        }
        if (SchedulePollingInterval < TimeSpan.FromMilliseconds(100))
        {
            yield return new ValidationResult("Service:SchedulePollingInterval must be at least 100 ms.");
        }
        if (InvisibilityTimeout < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult($"Service:InvisibilityTimeout must be at least one second, not {InvisibilityTimeout}.");
        }
        if (ShutdownTimeout < TimeSpan.Zero)
        {
            yield return new ValidationResult("Service:ShutdownTimeout must not be negative.");
        }
    }
}

/// <summary>Hangfire queue names. Separate queues keep bulk work from starving urgent work.</summary>
public static class JobQueues
{
    public const string FanOut = "fanout";
    public const string Webhooks = "webhooks";
    public const string Digests = "digests";
    public const string Maintenance = "maintenance";
    public const string Default = "default";

    /// <summary>Every queue, most urgent first.</summary>
    public static readonly IReadOnlyList<string> All = [FanOut, Webhooks, Default, Digests, Maintenance];

    /// <summary>Workers per queue when configuration does not say: fan-out is the latency-critical path.</summary>
    public static readonly IReadOnlyDictionary<string, int> DefaultWorkers = new Dictionary<string, int>
    {
        [FanOut] = Math.Max(8, Environment.ProcessorCount * 4),
        [Webhooks] = Math.Max(8, Environment.ProcessorCount * 4),
        [Default] = 2,
        [Digests] = 2,
        [Maintenance] = 1,
    };
}
