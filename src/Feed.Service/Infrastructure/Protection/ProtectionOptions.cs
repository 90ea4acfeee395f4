using System.ComponentModel.DataAnnotations;

namespace Feed.Infrastructure.Protection;

/// <summary>How the service protects itself under overload. Bound from the <c>Protection</c> section.</summary>
public sealed class ProtectionOptions : IValidatableObject
{
    public const string Section = "Protection";

    /// <summary>Open (unconfirmed) outbox rows above which new posts are refused with 503.</summary>
    [Range(1, int.MaxValue)]
    public int MaxOpenOutbox { get; set; } = 50_000;

    /// <summary>Jobs waiting in the fan-out queue above which new posts are refused with 503.</summary>
    [Range(1, int.MaxValue)]
    public int MaxFanOutQueue { get; set; } = 100_000;

    /// <summary>How often the backlog is measured.</summary>
    public TimeSpan BacklogRefreshInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What a refused post is told to wait before retrying.</summary>
    public TimeSpan OverloadRetryAfter { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Sustained writes (posts, deletes, follows) a user may make per minute.</summary>
    [Range(1, 1_000_000)]
    public int WritesPerMinute { get; set; } = 60;

    /// <summary>Writes a user may make at once above the sustained rate.</summary>
    [Range(1, 1_000_000)]
    public int WriteBurst { get; set; } = 30;

    /// <summary>
    /// Largest request body accepted, in bytes. A post is at most 500 text elements, but a text element
    /// can be many code points (emoji sequences, combining marks), each up to 12 bytes as a JSON escape.
    /// </summary>
    [Range(1024, 10_000_000)]
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BacklogRefreshInterval <= TimeSpan.Zero)
        {
            yield return new ValidationResult("Protection:BacklogRefreshInterval must be positive.");
        }
        if (OverloadRetryAfter < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Protection:OverloadRetryAfter must be at least one second.");
        }
    }
}
