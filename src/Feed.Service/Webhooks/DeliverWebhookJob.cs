using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Telemetry;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Webhooks;

/// <summary>
/// Attempts one webhook delivery: claims it, POSTs the signed event, logs the attempt and decides
/// what comes next — done, a retry on the published schedule, the dead-letter state, or a disabled
/// endpoint. The endpoint's failure streak drives its circuit breaker.
/// </summary>
/// <remarks>
/// Safe to run twice at once or again after a crash: the claim is a lease on the delivery row, so at
/// most one attempt is in flight and a finished delivery is never sent again (except by a replay).
/// Endpoint failures are not exceptions: they follow the webhook schedule, not Hangfire's retries,
/// which only cover this process losing Postgres mid-way.
/// </remarks>
public sealed class DeliverWebhookJob(
    NpgsqlDataSource postgres,
    IHttpClientFactory httpClients,
    WebhookSecrets secrets,
    IBackgroundJobClient jobs,
    IOptions<WebhookOptions> options,
    FeedMetrics metrics,
    ILogger<DeliverWebhookJob> logger)
{
    public const string HttpClientName = "webhooks";
    public const string UserAgent = "Feed-Webhooks/1.0";

    private const string LoadSql = """
        SELECT d.status, d.attempts, d.next_attempt_at, d.lease_until, d.event_id,
               s.id, s.url, s.enabled, s.secret, s.previous_secret, s.previous_secret_expires_at, s.circuit_open_until,
               e.payload, e.type, now()
        FROM webhook_deliveries d
        JOIN webhook_subscriptions s ON s.id = d.subscription_id
        JOIN webhook_events e ON e.id = d.event_id
        WHERE d.id = $1
        FOR UPDATE OF d
        """;

    // Claims serialise per endpoint on this lock, so the in-flight count (a later statement, with a
    // fresh snapshot) cannot be raced past.
    private const string EndpointLockSql = "SELECT pg_advisory_xact_lock(hashtextextended('webhook-endpoint', $1))";

    private const string InFlightSql = "SELECT count(*) FROM webhook_deliveries WHERE subscription_id = $1 AND lease_until > now()";

    private const string ClaimSql = """
        UPDATE webhook_deliveries SET lease_until = now() + $2, attempts = attempts + 1, last_attempt_at = now() WHERE id = $1
        """;

    private const string NextDueSql = """
        SELECT id FROM webhook_deliveries
        WHERE subscription_id = $1 AND status IN (1, 3) AND next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_attempt_at
        LIMIT 1
        """;

    private const string PostponeSql = "UPDATE webhook_deliveries SET next_attempt_at = now() + $2 WHERE id = $1";

    private const string ReleaseSql = "UPDATE webhook_deliveries SET lease_until = NULL WHERE id = $1";

    private const string KillSql = """
        UPDATE webhook_deliveries SET status = 4, lease_until = NULL, completed_at = now(), last_error = $2 WHERE id = $1
        """;

    /// <summary>Early jobs wait this long in the job rather than being rescheduled (Hangfire schedules to the second).</summary>
    private static readonly TimeSpan ShortWait = TimeSpan.FromSeconds(1.5);

    /// <summary>Deliveries one job sends to a healthy endpoint before it makes room for other work.</summary>
    private const int MaxDrain = 100;

    private readonly WebhookOptions _options = options.Value;

    [Queue(JobQueues.Webhooks)]
    [DisplayName("Deliver webhook {0}")]
    [AutomaticRetry(Attempts = 5)]
    public async Task RunAsync(long deliveryId, CancellationToken ct)
    {
        long? next = deliveryId;
        for (var drained = 0; next is { } id && drained < MaxDrain; drained++)
        {
            var claim = await ClaimAsync(id, ct);
            if (claim is { Early: true, RetryIn: { } early } && early <= ShortWait)
            {
                await Task.Delay(early, ct);
                claim = await ClaimAsync(id, ct);
            }
            if (claim.Attempt is not { } attempt)
            {
                // A delivery taken over while draining has a job of its own; only this job's own is rescheduled.
                if (claim.RetryIn is { } wait && drained == 0)
                {
                    Schedule(id, wait);
                }
                return;
            }

            AttemptResult result;
            try
            {
                result = await SendAsync(id, attempt, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Shutting down mid-attempt: give the delivery back so the re-queued job can attempt it at once.
                await ExecuteAsync(ReleaseSql, id, null, CancellationToken.None);
                throw;
            }
            if (await WebhookAttemptRecorder.RecordAsync(postgres, _options, metrics, id, attempt, result, ct) is { } delay)
            {
                Schedule(id, delay);
            }
            // A healthy endpoint is fed by the worker that just finished with it: deliveries waiting for its
            // concurrency cap go out back to back instead of each waiting for its rescheduled job.
            next = result.Succeeded ? await NextDueAsync(attempt.SubscriptionId, ct) : null;
        }
    }

    private async Task<long?> NextDueAsync(long subscriptionId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(NextDueSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = subscriptionId });
        return await cmd.ExecuteScalarAsync(ct) as long?;
    }

    private void Schedule(long deliveryId, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            jobs.Enqueue<DeliverWebhookJob>(job => job.RunAsync(deliveryId, CancellationToken.None));
        }
        else
        {
            jobs.Schedule<DeliverWebhookJob>(job => job.RunAsync(deliveryId, CancellationToken.None), delay);
        }
    }

    private async Task<Claim> ClaimAsync(long deliveryId, CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        ClaimedAttempt attempt;
        DateTimeOffset now;
        DateTimeOffset? circuitOpenUntil;
        await using (var load = new NpgsqlCommand(LoadSql, connection, tx))
        {
            load.Parameters.Add(new NpgsqlParameter<long> { TypedValue = deliveryId });
            await using var row = await load.ExecuteReaderAsync(ct);
            if (!await row.ReadAsync(ct))
            {
                return Claim.Nothing; // the subscription (and with it the delivery) was deleted
            }
            var status = (DeliveryStatus)row.GetInt16(0);
            now = row.GetFieldValue<DateTimeOffset>(14);
            var nextAttemptAt = row.GetFieldValue<DateTimeOffset>(2);
            var leaseUntil = row.IsDBNull(3) ? (DateTimeOffset?)null : row.GetFieldValue<DateTimeOffset>(3);
            if (status is not (DeliveryStatus.Pending or DeliveryStatus.Retrying) || leaseUntil > now)
            {
                return Claim.Nothing; // done, or being attempted by another worker
            }
            if (nextAttemptAt > now)
            {
                // Early: Hangfire's Redis storage schedules to the whole second, and a duplicate job may
                // predate a postponement. Wait for the due time; a duplicate then loses the claim.
                return new Claim(null, nextAttemptAt - now, Early: true);
            }
            circuitOpenUntil = row.IsDBNull(11) ? null : row.GetFieldValue<DateTimeOffset>(11);
            var keys = new List<byte[]> { secrets.Decrypt(row.GetFieldValue<byte[]>(8)) };
            if (!row.IsDBNull(9) && !row.IsDBNull(10) && row.GetFieldValue<DateTimeOffset>(10) > now)
            {
                keys.Add(secrets.Decrypt(row.GetFieldValue<byte[]>(9)));
            }
            attempt = new ClaimedAttempt(
                EventId: row.GetInt64(4), SubscriptionId: row.GetInt64(5), Url: row.GetString(6), Enabled: row.GetBoolean(7),
                Keys: keys, Payload: row.GetString(12), EventType: row.GetString(13), Number: row.GetInt32(1) + 1);
        }

        if (!attempt.Enabled)
        {
            await ExecuteAsync(KillSql, deliveryId, "The endpoint is disabled.", ct, connection, tx);
            await tx.CommitAsync(ct);
            return Claim.Nothing;
        }
        if (circuitOpenUntil > now)
        {
            // Open circuit: no attempt until it half-opens; spread the waiting deliveries a little.
            var wait = circuitOpenUntil.Value - now + Jitter(_options.BusyRetryDelay);
            await PostponeAsync(deliveryId, wait, connection, tx, ct);
            await tx.CommitAsync(ct);
            return new Claim(null, wait);
        }
        long inFlight;
        await using (var endpointLock = new NpgsqlCommand(EndpointLockSql, connection, tx))
        {
            endpointLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = attempt.SubscriptionId });
            await endpointLock.ExecuteNonQueryAsync(ct);
        }
        await using (var count = new NpgsqlCommand(InFlightSql, connection, tx))
        {
            count.Parameters.Add(new NpgsqlParameter<long> { TypedValue = attempt.SubscriptionId });
            inFlight = (long)(await count.ExecuteScalarAsync(ct))!;
        }
        // A half-open circuit (its open period over, not yet closed by a success) lets one probe through.
        var halfOpen = circuitOpenUntil is not null;
        if (inFlight >= (halfOpen ? 1 : _options.MaxConcurrentPerEndpoint))
        {
            // Left due, so a worker finishing with this endpoint picks it up; the retry is the fallback.
            await tx.CommitAsync(ct);
            return new Claim(null, (halfOpen ? _options.Timeout : _options.BusyRetryDelay) + Jitter(_options.BusyRetryDelay));
        }
        await using (var lease = new NpgsqlCommand(ClaimSql, connection, tx))
        {
            lease.Parameters.Add(new NpgsqlParameter<long> { TypedValue = deliveryId });
            lease.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.AttemptLease });
            await lease.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return new Claim(attempt, null);
    }

    private async Task<AttemptResult> SendAsync(long deliveryId, ClaimedAttempt attempt, CancellationToken ct)
    {
        var messageId = "msg_" + attempt.EventId.ToString(CultureInfo.InvariantCulture);
        var started = DateTimeOffset.UtcNow;
        var timestamp = started.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, attempt.Url)
        {
            Content = new StringContent(attempt.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.TryAddWithoutValidation("webhook-id", messageId);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("webhook-signature", WebhookSecrets.Sign(messageId, timestamp, attempt.Payload, attempt.Keys));
        request.Headers.UserAgent.ParseAdd(UserAgent);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.Timeout);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await httpClients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var body = await ReadCappedAsync(response.Content, _options.MaxResponseBodyBytes, timeout.Token);
            return new AttemptResult(started, clock.Elapsed, (int)response.StatusCode, body, RetryAfter(response, started), null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new AttemptResult(started, clock.Elapsed, null, null, null,
                $"Timed out after {_options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s.");
        }
        catch (HttpRequestException ex)
        {
            var error = ex.InnerException is WebhookAddressRefusedException refused
                ? refused.Message
                : $"Connection failed: {ex.HttpRequestError}{(ex.InnerException is { } inner ? " (" + inner.Message + ")" : "")}.";
            logger.LogInformation("Webhook delivery {DeliveryId} to endpoint {SubscriptionId} failed: {Error}", deliveryId, attempt.SubscriptionId, error);
            return new AttemptResult(started, clock.Elapsed, null, null, null, error);
        }
    }

    private static async Task<string?> ReadCappedAsync(HttpContent content, int maxBytes, CancellationToken ct)
    {
        if (maxBytes == 0)
        {
            return null;
        }
        await using var stream = await content.ReadAsStreamAsync(ct);
        var buffer = new byte[maxBytes];
        var length = 0;
        int read;
        while (length < maxBytes && (read = await stream.ReadAsync(buffer.AsMemory(length), ct)) > 0)
        {
            length += read;
        }
        return length == 0 ? null : Encoding.UTF8.GetString(buffer, 0, length);
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        if (response.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable) || response.Headers.RetryAfter is not { } header)
        {
            return null;
        }
        var delay = header.Delta ?? (header.Date - now);
        return delay > TimeSpan.Zero ? delay : null;
    }

    private static TimeSpan Jitter(TimeSpan spread) => spread * Random.Shared.NextDouble();

    private Task PostponeAsync(long deliveryId, TimeSpan wait, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct) =>
        ExecuteAsync(PostponeSql, deliveryId, wait, ct, connection, tx);

    private async Task ExecuteAsync(string sql, long deliveryId, object? value, CancellationToken ct, NpgsqlConnection? connection = null, NpgsqlTransaction? tx = null)
    {
        await using var owned = connection is null ? await postgres.OpenConnectionAsync(ct) : null;
        await using var cmd = new NpgsqlCommand(sql, connection ?? owned, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = deliveryId });
        if (value is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = value });
        }
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The attempt to make, or when to look again (<paramref name="Early"/>: the delivery is not due yet).</summary>
    private sealed record Claim(ClaimedAttempt? Attempt, TimeSpan? RetryIn, bool Early = false)
    {
        public static readonly Claim Nothing = new(null, null);
    }
}

/// <summary>What a claimed attempt needs: where to send what, signed with which keys.</summary>
internal sealed record ClaimedAttempt(
    long EventId, long SubscriptionId, string Url, bool Enabled, IReadOnlyList<byte[]> Keys, string Payload, string EventType, int Number);

/// <summary>What came back from one attempt; <see cref="StatusCode"/> is null when no response came.</summary>
internal sealed record AttemptResult(DateTimeOffset Started, TimeSpan Duration, int? StatusCode, string? ResponseBody, TimeSpan? RetryAfter, string? Error)
{
    public bool Succeeded => StatusCode is >= 200 and < 300;
}
