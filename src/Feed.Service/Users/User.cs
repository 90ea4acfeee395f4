using Feed.Digests;

namespace Feed.Users;

/// <summary>An account that posts and reads a home feed.</summary>
public sealed class User
{
    public long Id { get; set; }

    public required string Handle { get; set; }

    /// <summary>The handle in lower case; unique, so handles are unique regardless of case.</summary>
    public required string HandleNormalized { get; set; }

    public required string DisplayName { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Maintained in the same transaction as every follow and unfollow.</summary>
    public int FollowerCount { get; set; }

    public int FollowingCount { get; set; }

    /// <summary>
    /// True once the follower count reaches the celebrity threshold; false again only when it
    /// drops below the lower mark (hysteresis). Celebrity posts are merged at read time instead of pushed.
    /// </summary>
    public bool IsCelebrity { get; set; }

    /// <summary>
    /// Whether readers merge this author's timeline into their pages. Set with celebrity status; cleared
    /// only when a demoted celebrity's merged posts have been pushed into every follower's feed, so no
    /// reader loses a post across the transition.
    /// </summary>
    public bool MergeTimeline { get; set; }

    /// <summary>
    /// When the user last read their home feed (recorded at most once per refresh interval).
    /// Fan-out skips followers whose last read is older than the inactivity period.
    /// </summary>
    public DateTimeOffset LastFeedReadAt { get; set; }

    /// <summary>Where digest emails go. Optional; private (never part of the public profile).</summary>
    public string? Email { get; set; }

    /// <summary>
    /// The user's IANA time zone (for example <c>Europe/Berlin</c>): digests arrive at the delivery
    /// time on the user's local clock, whatever its offset or daylight-saving rules that day.
    /// </summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Whether the user receives digest emails: opt-in, and cleared by the one-click unsubscribe link.</summary>
    public bool DigestEnabled { get; set; }

    /// <summary>Kept while digests are off, so opting in again restores the user's choice.</summary>
    public DigestFrequency DigestFrequency { get; set; } = DigestFrequency.Daily;
}
