using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Infrastructure.Protection;

/// <summary>
/// Measures the fan-out backlog (open outbox rows, and jobs waiting in each queue) once per refresh
/// interval, so that <c>POST /v1/posts</c> can refuse work cheaply when the workers are behind, and
/// the metrics can report it. The count of open rows is capped just above the limit, so measuring
/// a huge backlog costs no more than measuring the limit.
/// </summary>
/// <remarks>
/// Hangfire's storage is resolved on first use, not injected: the storage's configuration resolves
/// the job filters, whose metrics observe this class.
/// </remarks>
public sealed class FanOutBacklog(
    NpgsqlDataSource postgres,
    IServiceProvider services,
    IOptions<ProtectionOptions> options,
    ILogger<FanOutBacklog> logger) : BackgroundService
{
    // The next_attempt_at condition (always true) lets this use ix_outbox_open_due.
    private const string OpenOutboxSql =
        "SELECT count(*) FROM (SELECT 1 FROM outbox WHERE completed_at IS NULL AND next_attempt_at IS NOT NULL LIMIT $1) open_rows";

    private readonly ProtectionOptions _options = options.Value;
    private volatile Snapshot _current = new(0, new Dictionary<string, long>(), false);

    /// <summary>The latest measurement.</summary>
    public Snapshot Current => _current;

    /// <summary>True when new posts should be refused.</summary>
    public bool IsOverloaded => _current.Overloaded;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.BacklogRefreshInterval);
        do
        {
            try
            {
                await RefreshAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // Unmeasurable is not overloaded: the dependencies' own failures answer the requests.
                logger.LogWarning(ex, "Could not measure the fan-out backlog");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    public async Task RefreshAsync(CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(OpenOutboxSql);
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxOpenOutbox + 1 });
        var open = (long)(await cmd.ExecuteScalarAsync(ct))!;
        var monitoring = services.GetRequiredService<JobStorage>().GetMonitoringApi();
        var queues = JobQueues.All.ToDictionary(q => q, q => monitoring.EnqueuedCount(q));
        var overloaded = open > _options.MaxOpenOutbox || queues[JobQueues.FanOut] > _options.MaxFanOutQueue;
        if (overloaded && !_current.Overloaded)
        {
            logger.LogWarning("Fan-out backlog over its limit ({OpenOutbox} open outbox rows, {FanOutQueue} queued fan-out jobs): refusing new posts",
                open, queues[JobQueues.FanOut]);
        }
        else if (!overloaded && _current.Overloaded)
        {
            logger.LogInformation("Fan-out backlog back under its limit: accepting posts again");
        }
        _current = new Snapshot(open, queues, overloaded);
    }

    /// <param name="OpenOutbox">Open outbox rows (capped just above the limit).</param>
    /// <param name="QueueDepths">Jobs waiting per Hangfire queue.</param>
    /// <param name="Overloaded">Whether posts are being refused.</param>
    public sealed record Snapshot(long OpenOutbox, IReadOnlyDictionary<string, long> QueueDepths, bool Overloaded);
}
