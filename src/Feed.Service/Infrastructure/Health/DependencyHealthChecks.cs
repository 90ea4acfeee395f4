using Feed.Infrastructure.Hangfire;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using StackExchange.Redis;

namespace Feed.Infrastructure.Health;

/// <summary>Postgres answers a query.</summary>
internal sealed class PostgresHealthCheck(NpgsqlDataSource postgres) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
    {
        try
        {
            await using var cmd = postgres.CreateCommand("SELECT 1");
            await cmd.ExecuteScalarAsync(ct);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy("Postgres did not answer.", ex);
        }
    }
}

/// <summary>Redis answers a PING.</summary>
internal sealed class RedisHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
    {
        try
        {
            var latency = await redis.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy($"PING {latency.TotalMilliseconds:F1} ms");
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis did not answer.", ex);
        }
    }
}

/// <summary>
/// At least one worker process serving the fan-out queue has beaten recently (see
/// <see cref="WorkerHeartbeat"/>). Reported as degraded rather than unhealthy when none has: an API
/// process stays in rotation while workers restart, since the outbox keeps every write's work until
/// they are back.
/// </summary>
internal sealed class WorkersHealthCheck(IConnectionMultiplexer redis, TimeProvider clock) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct)
    {
        try
        {
            var alive = await WorkerHeartbeat.AliveAsync(redis.GetDatabase(), clock.GetUtcNow());
            var fanOut = alive.Count(w => w.Queues.Contains(JobQueues.FanOut));
            var data = new Dictionary<string, object> { ["workers"] = alive.Count, ["fanOutWorkers"] = fanOut };
            return fanOut > 0
                ? HealthCheckResult.Healthy($"{alive.Count} worker processes alive", data)
                : HealthCheckResult.Degraded("No live worker process serves the fan-out queue.", data: data);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy("Redis did not answer.", ex);
        }
    }
}
