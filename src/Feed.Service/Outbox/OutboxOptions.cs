using System.ComponentModel.DataAnnotations;

namespace Feed.Outbox;

/// <summary>The relay that re-enqueues unconfirmed outbox work. Bound from the <c>Outbox</c> configuration section.</summary>
public sealed class OutboxOptions : IValidatableObject
{
    public const string Section = "Outbox";

    /// <summary>How often the relay looks for due rows.</summary>
    public TimeSpan RelayInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long after an enqueue a row that is still not done is enqueued again. Long enough for a
    /// normal fan-out under load, short enough that a lost queue heals quickly.
    /// </summary>
    public TimeSpan RedeliverAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Rows the relay claims per round.</summary>
    [Range(1, 10_000)]
    public int RelayBatchSize { get; set; } = 500;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (RelayInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Outbox:RelayInterval must be positive.");
        }
        if (RedeliverAfter < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Outbox:RedeliverAfter must be at least one second.");
        }
    }
}
