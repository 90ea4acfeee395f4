namespace Feed.Posts;

/// <summary>
/// Remembers the result of a POST made with an <c>Idempotency-Key</c> header, so a retried
/// request returns the first result instead of writing again. Written in the post's transaction.
/// </summary>
public sealed class IdempotencyRecord
{
    public long UserId { get; set; }

    public required string Key { get; set; }

    /// <summary>SHA-256 of the request body: the same key with another body is refused.</summary>
    public required string RequestHash { get; set; }

    public long PostId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
