using System.ComponentModel.DataAnnotations;

namespace Feed.Infrastructure.Hangfire;

/// <summary>Which roles this process plays and, as a worker, which queues it serves.</summary>
public sealed class WorkerOptions : IValidatableObject
{
    public const string Section = "Service";

    /// <summary>Comma-separated: <c>api</c>, <c>worker</c>, or both (the default).</summary>
    public string Roles { get; set; } = "api,worker";

    /// <summary>Queues this worker serves, most urgent first.</summary>
    public string[] Queues { get; set; } = [.. JobQueues.All];

    [Range(1, 1000)]
    public int WorkerCount { get; set; } = Math.Max(4, Environment.ProcessorCount * 4);

    public bool IsApi => HasRole("api");

    public bool IsWorker => HasRole("worker");

    private bool HasRole(string role) =>
        Roles.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Contains(role, StringComparer.OrdinalIgnoreCase);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var roles = Roles.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (roles.Length == 0 || roles.Any(r => r is not ("api" or "worker")))
        {
            yield return new ValidationResult($"Service:Roles must be 'api', 'worker' or 'api,worker', not '{Roles}'.");
        }
        var unknown = Queues.Where(q => !JobQueues.All.Contains(q)).ToArray();
        if (Queues.Length == 0 || unknown.Length > 0)
        {
            yield return new ValidationResult(
                $"Service:Queues must name some of: {string.Join(", ", JobQueues.All)} (unknown: {string.Join(", ", unknown)}).");
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
}
