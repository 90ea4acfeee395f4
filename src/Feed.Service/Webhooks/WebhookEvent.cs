namespace Feed.Webhooks;

/// <summary>
/// One event, stored with the exact body every endpoint receives, so that retries and replays send
/// (and sign) the same bytes. Its id is the <c>webhook-id</c> header (<c>msg_…</c>) of every delivery.
/// </summary>
public sealed class WebhookEvent
{
    public long Id { get; set; }

    public required string Type { get; set; }

    /// <summary>The JSON body: <c>{"type","timestamp","data"}</c>.</summary>
    public required string Payload { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
