namespace Feed.Webhooks;

/// <summary>
/// A company that receives webhooks. It authenticates with an API key (<c>X-Api-Key</c>) that is
/// shown once at creation; only its SHA-256 hash is stored.
/// </summary>
public sealed class Partner
{
    public long Id { get; set; }

    public required string Name { get; set; }

    /// <summary>SHA-256 of the API key: keys are 256 random bits, so a fast hash is enough to make a leaked table useless.</summary>
    public required byte[] ApiKeyHash { get; set; }

    /// <summary>The key's first characters, so an operator can tell keys apart without seeing them.</summary>
    public required string ApiKeyPrefix { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>A disabled partner's key no longer authenticates and its endpoints receive nothing.</summary>
    public DateTimeOffset? DisabledAt { get; set; }
}
