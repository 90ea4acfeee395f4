namespace Feed.FanOut;

/// <summary>Records that one batch of one fan-out generation finished; the outbox row completes when all have.</summary>
public sealed class FanOutBatchCompletion
{
    public long OutboxId { get; set; }

    public int Generation { get; set; }

    public int BatchIndex { get; set; }

    public DateTimeOffset CompletedAt { get; set; }
}
