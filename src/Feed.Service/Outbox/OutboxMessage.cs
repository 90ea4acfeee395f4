namespace Feed.Outbox;

/// <summary>
/// Background work committed in the same transaction as the change that caused it.
/// A row stays open until its work is confirmed done; the relay re-enqueues open rows whose
/// next attempt is due, so a lost enqueue or a lost queue costs latency, never the work.
/// </summary>
public sealed class OutboxMessage
{
    public long Id { get; set; }

    public OutboxKind Kind { get; set; }

    /// <summary>The post, for post work.</summary>
    public long? PostId { get; set; }

    /// <summary>The acting user: the follower for follow work, the author for author work.</summary>
    public long? UserId { get; set; }

    /// <summary>The other user of follow work: the followee.</summary>
    public long? TargetUserId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the relay may enqueue this row again if it is still not done.</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    public int Attempts { get; set; }

    /// <summary>Bumped by every run of the fan-out; only batches of the current generation count.</summary>
    public int Generation { get; set; }

    public int? BatchesTotal { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}

public enum OutboxKind : short
{
    /// <summary>Push a new post into its author's followers' feeds.</summary>
    PostCreated = 1,

    /// <summary>Remove a deleted post from the feeds it was pushed into.</summary>
    PostDeleted = 2,

    /// <summary>Backfill the followee's recent posts into the new follower's feed.</summary>
    FollowCreated = 3,

    /// <summary>Remove the former followee's posts from the follower's feed.</summary>
    FollowRemoved = 4,

    /// <summary>A celebrity became ordinary: push their merged-at-read posts into followers' feeds.</summary>
    AuthorDemoted = 5,
}
