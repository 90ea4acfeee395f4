using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Infrastructure.Hangfire;

/// <summary>
/// Each worker process records, every few seconds, that it is alive and which queues it serves, in
/// one sorted set (<c>workers:{feed}</c>, score = last beat). Readiness reads it. Hangfire's own
/// server list is not enough: Hangfire.Redis does not re-register a server whose entry a flushed
/// Redis lost, although the server keeps processing jobs.
/// </summary>
public sealed class WorkerHeartbeat(IConnectionMultiplexer redis, IOptions<WorkerOptions> options, TimeProvider clock, ILogger<WorkerHeartbeat> logger)
    : BackgroundService
{
    public static readonly RedisKey Key = "workers:{feed}";

    /// <summary>A worker is alive if it beat within this window.</summary>
    public static readonly TimeSpan AliveWindow = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly string _member = $"{Environment.MachineName}:{Environment.ProcessId}|{string.Join(",", options.Value.ServedQueues)}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var db = redis.GetDatabase();
        using var timer = new PeriodicTimer(Interval);
        try
        {
            do
            {
                try
                {
                    var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
                    await db.SortedSetAddAsync(Key, _member, now);
                    await db.SortedSetRemoveRangeByScoreAsync(Key, 0, now - (long)TimeSpan.FromHours(1).TotalMilliseconds);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    logger.LogWarning(ex, "Could not record the worker heartbeat");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Leaving: readiness should not count this process any more.
            try
            {
                await db.SortedSetRemoveAsync(Key, _member);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                logger.LogDebug(ex, "Could not remove the worker heartbeat on shutdown");
            }
        }
    }

    /// <summary>The live workers and the queues each serves.</summary>
    public static async Task<IReadOnlyList<(string Name, string[] Queues)>> AliveAsync(IDatabaseAsync db, DateTimeOffset now)
    {
        var members = await db.SortedSetRangeByScoreAsync(Key, (now - AliveWindow).ToUnixTimeMilliseconds(), double.PositiveInfinity);
        return [.. members.Select(m => ((string)m!).Split('|')).Select(p => (p[0], p[1].Split(',')))];
    }
}
