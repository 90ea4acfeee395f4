using System.ComponentModel.DataAnnotations;

namespace Feed.FanOut;

/// <summary>How posts reach followers. Bound from the <c>FanOut</c> configuration section.</summary>
public sealed class FanOutOptions : IValidatableObject
{
    public const string Section = "FanOut";

    /// <summary>Followers per <see cref="FanOutBatchJob"/>: one failure retries this many, not the whole audience.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>Authors with at least this many followers become celebrities: their posts are merged at read time.</summary>
    [Range(1, int.MaxValue)]
    public int CelebrityThreshold { get; set; } = 10_000;

    /// <summary>A celebrity becomes ordinary again only below this count, so an author on the boundary does not flap.</summary>
    [Range(0, int.MaxValue)]
    public int CelebrityLowerMark { get; set; } = 9_000;

    /// <summary>Followers who have not read their feed for this long are skipped; their feed is rebuilt on their next read.</summary>
    public TimeSpan InactiveAfter { get; set; } = TimeSpan.FromDays(14);

    /// <summary>How many of a followee's recent posts a new follow copies into the follower's feed.</summary>
    [Range(0, 10_000)]
    public int FollowBackfillCount { get; set; } = 20;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (CelebrityLowerMark > CelebrityThreshold)
        {
            yield return new ValidationResult(
                $"FanOut:CelebrityLowerMark ({CelebrityLowerMark}) must not exceed FanOut:CelebrityThreshold ({CelebrityThreshold}).");
        }
        if (InactiveAfter < TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("FanOut:InactiveAfter must be at least one minute.");
        }
    }
}
