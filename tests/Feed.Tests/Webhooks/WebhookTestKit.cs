using System.Net;
using System.Net.Http.Json;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Webhooks;

internal static class WebhookTestKit
{
    public static async Task<SubscriptionCreatedDto> SubscribeAsync(this TestPartner partner, string url, params string[] eventTypes)
    {
        var response = await partner.Client.PostAsJsonAsync("/v1/webhooks/subscriptions",
            new { url, eventTypes = eventTypes.Length == 0 ? ["post.created"] : eventTypes, description = "test endpoint" });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<SubscriptionCreatedDto>())!;
    }

    public static async Task<SubscriptionDto> SubscriptionAsync(this TestPartner partner, string id) =>
        (await partner.Client.GetFromJsonAsync<SubscriptionDto>($"/v1/webhooks/subscriptions/{id}"))!;

    public static async Task<List<DeliveryDto>> DeliveriesAsync(this TestPartner partner, string subscriptionId, string? status = null)
    {
        var page = await partner.Client.GetFromJsonAsync<DeliveryPageDto>(
            $"/v1/webhooks/subscriptions/{subscriptionId}/deliveries?limit=100" + (status is null ? "" : $"&status={status}"));
        return page!.Items;
    }

    public static async Task<DeliveryDetailDto> DeliveryAsync(this TestPartner partner, string deliveryId) =>
        (await partner.Client.GetFromJsonAsync<DeliveryDetailDto>($"/v1/webhooks/deliveries/{deliveryId}"))!;

    /// <summary>Waits until the subscription has <paramref name="count"/> deliveries in <paramref name="status"/>.</summary>
    public static async Task<List<DeliveryDto>> WaitForDeliveriesAsync(this TestPartner partner, string subscriptionId, string status, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var deliveries = await partner.DeliveriesAsync(subscriptionId, status);
            if (deliveries.Count >= count)
            {
                return deliveries;
            }
            if (DateTime.UtcNow > deadline)
            {
                var all = await partner.DeliveriesAsync(subscriptionId);
                throw new TimeoutException(
                    $"{deliveries.Count} of {count} deliveries reached '{status}'; all: {string.Join(", ", all.Select(d => $"{d.Status}/{d.Attempts}/{d.LastError}"))}");
            }
            await Task.Delay(50);
        }
    }
}

public sealed record SubscriptionDto(
    string Id, string Url, List<string> EventTypes, string? Description, bool Enabled, string? DisabledReason,
    DateTimeOffset? FailingSince, int ConsecutiveFailures, DateTimeOffset? CircuitOpenUntil, DateTimeOffset? PreviousSecretExpiresAt);

public sealed record SubscriptionCreatedDto(SubscriptionDto Subscription, string Secret);

public sealed record DeliveryDto(
    string Id, string MessageId, string EventType, string Status, int Attempts, DateTimeOffset? NextAttemptAt,
    int? LastStatusCode, string? LastError, DateTimeOffset CreatedAt);

public sealed record DeliveryPageDto(List<DeliveryDto> Items, string? NextCursor);

public sealed record AttemptDto(DateTimeOffset StartedAt, int DurationMs, int? StatusCode, string? Error, string? ResponseBody, DateTimeOffset? NextAttemptAt);

public sealed record DeliveryDetailDto(DeliveryDto Delivery, string Payload, List<AttemptDto> Attempts);
