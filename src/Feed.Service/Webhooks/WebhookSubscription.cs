namespace Feed.Webhooks;

/// <summary>
/// A partner's endpoint and the event types it wants. Holds the endpoint's signing secrets
/// (encrypted) and its health: the failure streak, the circuit breaker and whether it is disabled.
/// </summary>
public sealed class WebhookSubscription
{
    public long Id { get; set; }

    public long PartnerId { get; set; }

    public required string Url { get; set; }

    public required string[] EventTypes { get; set; }

    public string? Description { get; set; }

    /// <summary>The current signing secret, encrypted with <see cref="WebhookSecrets"/>.</summary>
    public required byte[] Secret { get; set; }

    /// <summary>The secret before the last rotation; it keeps signing until <see cref="PreviousSecretExpiresAt"/>.</summary>
    public byte[]? PreviousSecret { get; set; }

    public DateTimeOffset? PreviousSecretExpiresAt { get; set; }

    public bool Enabled { get; set; } = true;

    /// <summary>Why the endpoint was disabled: <c>gone</c> (it answered 410), <c>failing</c> (a long failure streak) or <c>partner</c>.</summary>
    public string? DisabledReason { get; set; }

    public DateTimeOffset? DisabledAt { get; set; }

    /// <summary>Start of the current run of failed attempts; null after a success.</summary>
    public DateTimeOffset? FailingSince { get; set; }

    public int ConsecutiveFailures { get; set; }

    /// <summary>While in the future, no delivery to this endpoint is attempted. Once past and still set, the circuit is half-open: one probe at a time.</summary>
    public DateTimeOffset? CircuitOpenUntil { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}
