using System.Globalization;
using Feed.Infrastructure.Telemetry;
using Npgsql;
using NpgsqlTypes;

namespace Feed.Webhooks;

/// <summary>
/// Writes down one attempt and its consequences in one transaction: the attempt log, the delivery's
/// next state (done, retry at the scheduled time, dead letter) and the endpoint's health (failure
/// streak, circuit breaker, disabling after <c>410 Gone</c> or a long failure streak).
/// </summary>
/// <remarks>
/// The endpoint row is locked first, as everything else that changes an endpoint and its deliveries
/// does, so recording, disabling and replaying cannot deadlock.
/// </remarks>
internal static class WebhookAttemptRecorder
{
    private const string LockEndpointSql = """
        SELECT enabled, consecutive_failures, failing_since, now() FROM webhook_subscriptions WHERE id = $1 FOR UPDATE
        """;

    private const string InsertAttemptSql = """
        INSERT INTO webhook_attempts (delivery_id, started_at, duration_ms, status_code, error, response_body, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """;

    private const string SucceededSql = """
        UPDATE webhook_deliveries SET status = 2, lease_until = NULL, completed_at = now(), last_status_code = $2, last_error = NULL
        WHERE id = $1
        """;

    private const string RetrySql = """
        UPDATE webhook_deliveries SET status = 3, lease_until = NULL, next_attempt_at = $3, last_status_code = $2, last_error = $4
        WHERE id = $1
        """;

    private const string DeadSql = """
        UPDATE webhook_deliveries SET status = 4, lease_until = NULL, completed_at = now(), last_status_code = $2, last_error = $3
        WHERE id = $1
        """;

    private const string EndpointHealthSql = """
        UPDATE webhook_subscriptions SET consecutive_failures = $2, failing_since = $3, circuit_open_until = $4 WHERE id = $1
        """;

    /// <returns>How long until the next attempt, when one is scheduled.</returns>
    public static async Task<TimeSpan?> RecordAsync(
        NpgsqlDataSource postgres, WebhookOptions options, FeedMetrics metrics, long deliveryId, ClaimedAttempt attempt, AttemptResult result, CancellationToken ct)
    {
        metrics.WebhookAttempt(result.Succeeded, result.StatusCode, result.Duration);
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        bool enabled;
        int failures;
        DateTimeOffset? failingSince;
        DateTimeOffset now;
        await using (var endpoint = new NpgsqlCommand(LockEndpointSql, connection, tx))
        {
            endpoint.Parameters.Add(new NpgsqlParameter<long> { TypedValue = attempt.SubscriptionId });
            await using var row = await endpoint.ExecuteReaderAsync(ct);
            if (!await row.ReadAsync(ct))
            {
                return null; // deleted while the attempt was in flight, and its deliveries with it
            }
            enabled = row.GetBoolean(0);
            failures = row.GetInt32(1);
            failingSince = row.IsDBNull(2) ? null : row.GetFieldValue<DateTimeOffset>(2);
            now = row.GetFieldValue<DateTimeOffset>(3);
        }

        TimeSpan? retryIn = null;
        string? error = null;
        if (result.Succeeded)
        {
            await RunAsync(connection, tx, SucceededSql, ct, deliveryId, result.StatusCode);
            await RunAsync(connection, tx, EndpointHealthSql, ct, attempt.SubscriptionId, 0, null, null);
        }
        else
        {
            error = result.Error ?? $"The endpoint answered HTTP {result.StatusCode}.";
            failures++;
            failingSince ??= result.Started;
            var disableReason = result.StatusCode == 410 ? WebhookEndpoints.Gone
                : now - failingSince >= options.DisableAfter ? WebhookEndpoints.Failing : null;
            if (!enabled || disableReason is not null)
            {
                if (disableReason is not null)
                {
                    await WebhookEndpoints.DisableAsync(connection, tx, attempt.SubscriptionId, disableReason, ct);
                    metrics.WebhookEndpointDisabled(disableReason);
                    error = disableReason == WebhookEndpoints.Gone
                        ? "The endpoint answered 410 Gone and was disabled."
                        : $"The endpoint has failed since {failingSince:O} and was disabled.";
                }
                await RunAsync(connection, tx, DeadSql, ct, deliveryId, result.StatusCode, error);
                metrics.WebhookDeadLettered();
            }
            else if (attempt.Number >= options.Schedule.Count)
            {
                error = $"{error} All {options.Schedule.Count} attempts failed; dead-lettered.";
                await RunAsync(connection, tx, DeadSql, ct, deliveryId, result.StatusCode, error);
                metrics.WebhookDeadLettered();
            }
            else
            {
                retryIn = NextDelay(options, attempt.Number, result.RetryAfter);
                await RunAsync(connection, tx, RetrySql, ct, deliveryId, result.StatusCode, now + retryIn.Value, error);
            }

            DateTimeOffset? circuitOpenUntil = null;
            if (enabled && disableReason is null && failures >= options.CircuitBreakAfter)
            {
                // Open for the base period, doubling with every further failure (each failed half-open probe).
                var doublings = Math.Min(failures - options.CircuitBreakAfter, 20);
                var openFor = TimeSpan.FromTicks(Math.Min(options.CircuitOpenMax.Ticks, options.CircuitOpenFor.Ticks << doublings));
                circuitOpenUntil = now + openFor;
                if (failures == options.CircuitBreakAfter)
                {
                    metrics.WebhookCircuitOpened();
                }
            }
            await RunAsync(connection, tx, EndpointHealthSql, ct, attempt.SubscriptionId, failures, failingSince, circuitOpenUntil);
        }

        await RunAsync(connection, tx, InsertAttemptSql, ct, deliveryId, result.Started, (int)Math.Min(int.MaxValue, result.Duration.TotalMilliseconds),
            result.StatusCode, Truncate(error, 500), result.ResponseBody, retryIn is { } r ? now + r : null);
        await tx.CommitAsync(ct);
        return retryIn;
    }

    /// <summary>
    /// The delay before attempt <paramref name="attemptsMade"/> + 1: the schedule's entry spread by the jitter,
    /// and never shorter than a (bounded) <c>Retry-After</c> the endpoint asked for.
    /// </summary>
    public static TimeSpan NextDelay(WebhookOptions options, int attemptsMade, TimeSpan? retryAfter)
    {
        var scheduled = options.Schedule[attemptsMade];
        var delay = scheduled * (1 + options.RetryJitter * ((Random.Shared.NextDouble() * 2) - 1));
        if (retryAfter is { } asked)
        {
            var bounded = asked < options.MaxRetryAfter ? asked : options.MaxRetryAfter;
            delay = bounded > delay ? bounded : delay;
        }
        return delay;
    }

    private static string? Truncate(string? text, int max) => text is null || text.Length <= max ? text : text[..max];

    private static async Task RunAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, CancellationToken ct, params object?[] values)
    {
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        foreach (var value in values)
        {
            cmd.Parameters.Add(value switch
            {
                null => new NpgsqlParameter { Value = DBNull.Value },
                string s => new NpgsqlParameter<string> { TypedValue = s, NpgsqlDbType = NpgsqlDbType.Text },
                _ => new NpgsqlParameter { Value = value },
            });
        }
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
