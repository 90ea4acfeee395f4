namespace Feed.Posts;

/// <summary>A post. Its id is time-ordered (see docs/decisions.md), so ordering by id is ordering by time.</summary>
public sealed class Post
{
    public long Id { get; set; }

    public long AuthorId { get; set; }

    public required string Body { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Soft delete: a deleted post disappears from every read at once.</summary>
    public DateTimeOffset? DeletedAt { get; set; }

    /// <summary>How the post reaches readers; decided once, when it is fanned out.</summary>
    public PostDelivery Delivery { get; set; }
}

public enum PostDelivery : short
{
    /// <summary>Not fanned out yet.</summary>
    Pending = 0,

    /// <summary>Pushed into followers' feeds (ordinary author).</summary>
    Pushed = 1,

    /// <summary>Merged into readers' pages from the author's timeline (celebrity author).</summary>
    Pulled = 2,
}
