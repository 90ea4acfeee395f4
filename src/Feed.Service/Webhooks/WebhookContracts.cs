using System.Globalization;

namespace Feed.Webhooks;

/// <summary>
/// Create or change a subscription. On PATCH every field is optional and null means "unchanged";
/// an empty description clears it; <c>enabled: true</c> re-enables a disabled endpoint.
/// </summary>
public sealed record SubscriptionRequest(string? Url, string[]? EventTypes, string? Description, bool? Enabled = null);

/// <summary>A subscription and its endpoint's health. Ids are strings, as everywhere in the API.</summary>
public sealed record SubscriptionResponse(
    string Id,
    string Url,
    IReadOnlyList<string> EventTypes,
    string? Description,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset? DisabledAt,
    DateTimeOffset? FailingSince,
    int ConsecutiveFailures,
    DateTimeOffset? CircuitOpenUntil,
    DateTimeOffset? PreviousSecretExpiresAt,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static SubscriptionResponse From(WebhookSubscription s) => new(
        s.Id.ToString(CultureInfo.InvariantCulture), s.Url, s.EventTypes, s.Description, s.Enabled, s.DisabledReason, s.DisabledAt,
        s.FailingSince, s.ConsecutiveFailures, s.CircuitOpenUntil, s.PreviousSecretExpiresAt, s.CreatedAt, s.UpdatedAt);
}

/// <summary>A new subscription with its signing secret: returned only at creation. Store the secret now.</summary>
public sealed record SubscriptionCreatedResponse(SubscriptionResponse Subscription, string Secret);

public sealed record SubscriptionPage(IReadOnlyList<SubscriptionResponse> Items, string? NextCursor);

/// <summary>A new signing secret; the previous one also signs deliveries until <paramref name="PreviousSecretExpiresAt"/>.</summary>
public sealed record SecretResponse(string Secret, DateTimeOffset PreviousSecretExpiresAt);

public sealed record EventTypesResponse(IReadOnlyList<string> EventTypes);

public sealed record TestEventResponse(string DeliveryId);

/// <summary>The <c>data</c> of <c>webhook.test</c>.</summary>
public sealed record TestEventData(string SubscriptionId, string Message);

public sealed record ReplayRequest(DateTimeOffset? Since);

public sealed record ReplayResponse(int Replayed);

/// <summary>A delivery of one event to one endpoint. <c>messageId</c> is the <c>webhook-id</c> header the endpoint received.</summary>
public sealed record DeliveryResponse(
    string Id,
    string MessageId,
    string EventType,
    string Status,
    int Attempts,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt)
{
    public static DeliveryResponse From(WebhookDelivery d, string eventType) => new(
        d.Id.ToString(CultureInfo.InvariantCulture),
        "msg_" + d.EventId.ToString(CultureInfo.InvariantCulture),
        eventType,
        DeliveryStatuses.Name(d.Status),
        d.Attempts,
        d.Status is DeliveryStatus.Pending or DeliveryStatus.Retrying ? d.NextAttemptAt : null,
        d.LastAttemptAt,
        d.LastStatusCode,
        d.LastError,
        d.CreatedAt,
        d.CompletedAt);
}

public sealed record DeliveryPage(IReadOnlyList<DeliveryResponse> Items, string? NextCursor);

/// <summary>A delivery with the exact body sent and every attempt, oldest first.</summary>
public sealed record DeliveryDetailResponse(DeliveryResponse Delivery, string Payload, IReadOnlyList<AttemptResponse> Attempts);

public sealed record AttemptResponse(DateTimeOffset StartedAt, int DurationMs, int? StatusCode, string? Error, string? ResponseBody, DateTimeOffset? NextAttemptAt)
{
    public static AttemptResponse From(WebhookAttempt a) => new(a.StartedAt, a.DurationMs, a.StatusCode, a.Error, a.ResponseBody, a.NextAttemptAt);
}

/// <summary>Delivery status names in the API; <c>failed</c> is shorthand for retrying or dead.</summary>
public static class DeliveryStatuses
{
    public static readonly IReadOnlyList<string> Names = ["pending", "retrying", "succeeded", "dead", "failed"];

    public static string Name(DeliveryStatus status) => status switch
    {
        DeliveryStatus.Pending => "pending",
        DeliveryStatus.Retrying => "retrying",
        DeliveryStatus.Succeeded => "succeeded",
        _ => "dead",
    };

    public static bool TryParse(string name, out DeliveryStatus[] statuses)
    {
        statuses = name switch
        {
            "pending" => [DeliveryStatus.Pending],
            "retrying" => [DeliveryStatus.Retrying],
            "succeeded" => [DeliveryStatus.Succeeded],
            "dead" => [DeliveryStatus.Dead],
            "failed" => [DeliveryStatus.Retrying, DeliveryStatus.Dead],
            _ => [],
        };
        return statuses.Length > 0;
    }
}
