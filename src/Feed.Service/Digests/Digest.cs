namespace Feed.Digests;

/// <summary>
/// One user's digest for one period (a local date, or an ISO week). The unique (user, period) row
/// is what makes sending idempotent: whoever claims it sends, everyone else finds it taken.
/// </summary>
public sealed class Digest
{
    public long Id { get; set; }

    public long UserId { get; set; }

    /// <summary><c>yyyy-MM-dd</c> (daily: the user's local date) or <c>yyyy-Www</c> (weekly: ISO week, local).</summary>
    public required string Period { get; set; }

    public DigestStatus Status { get; set; }

    /// <summary>Claims that ran (scheduler hand-overs do not count); capped by <c>Digests:MaxSendAttempts</c>.</summary>
    public int Attempts { get; set; }

    /// <summary>Until when the current claim holds (pending: until the scheduler enqueues again; sending: until another worker may take over).</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    /// <summary>Identifies the claim of the worker that is sending; only it may finish the row.</summary>
    public Guid? LeaseToken { get; set; }

    /// <summary>The start of the span of posts covered (exclusive).</summary>
    public DateTimeOffset? CoveredFrom { get; set; }

    /// <summary>The end of the span of posts covered (inclusive): the next digest starts here.</summary>
    public DateTimeOffset? CoveredUntil { get; set; }

    /// <summary>Posts shown in the email.</summary>
    public int PostCount { get; set; }

    /// <summary>New posts in the span, shown or counted.</summary>
    public int TotalCount { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? SentAt { get; set; }

    /// <summary>The last send failure (exception type and message), for operators.</summary>
    public string? LastError { get; set; }
}

public enum DigestStatus : short
{
    /// <summary>Claimed for the period by the scheduler; its job is queued.</summary>
    Pending = 1,

    /// <summary>A worker holds the lease and is composing or sending.</summary>
    Sending = 2,

    /// <summary>The email was accepted by the SMTP server.</summary>
    Sent = 3,

    /// <summary>Nothing new since the last digest or feed read: no email, and the period is done.</summary>
    NothingNew = 4,

    /// <summary>Every attempt failed; the period is given up.</summary>
    Failed = 5,
}
