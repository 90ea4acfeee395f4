namespace Feed.Webhooks;

/// <summary>
/// One event on its way to one endpoint. Created with the event (in the transaction of the change
/// that caused it), so a delivery is never lost; the claim (<see cref="LeaseUntil"/>) makes sure two
/// workers never attempt it at once.
/// </summary>
public sealed class WebhookDelivery
{
    public long Id { get; set; }

    public long EventId { get; set; }

    public long SubscriptionId { get; set; }

    public DeliveryStatus Status { get; set; }

    /// <summary>Attempts made in the current round; a replay starts a new round of the schedule.</summary>
    public int Attempts { get; set; }

    /// <summary>When the next attempt is due (pending and retrying deliveries).</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    /// <summary>Set while a worker attempts the delivery; a crashed worker's lease expires and the delivery is retried.</summary>
    public DateTimeOffset? LeaseUntil { get; set; }

    public DateTimeOffset? LastAttemptAt { get; set; }

    public int? LastStatusCode { get; set; }

    public string? LastError { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}

public enum DeliveryStatus : short
{
    /// <summary>Not attempted yet in this round.</summary>
    Pending = 1,

    /// <summary>Delivered: the endpoint answered 2xx.</summary>
    Succeeded = 2,

    /// <summary>The last attempt failed; another is scheduled.</summary>
    Retrying = 3,

    /// <summary>Dead-lettered: every attempt of the schedule failed, or the endpoint was disabled. Can be replayed.</summary>
    Dead = 4,
}

/// <summary>The log of one attempt: when, how long, what came back.</summary>
public sealed class WebhookAttempt
{
    public long Id { get; set; }

    public long DeliveryId { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public int DurationMs { get; set; }

    /// <summary>The HTTP status; null when no response came (timeout, refused address, connection error).</summary>
    public int? StatusCode { get; set; }

    public string? Error { get; set; }

    /// <summary>The first bytes of the response body (capped by <c>Webhooks:MaxResponseBodyBytes</c>).</summary>
    public string? ResponseBody { get; set; }

    /// <summary>When the retry this failure caused is due; null after a success or the last attempt.</summary>
    public DateTimeOffset? NextAttemptAt { get; set; }
}
