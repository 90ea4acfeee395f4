using System.ComponentModel;
using System.Globalization;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Telemetry;
using Feed.Outbox;
using Feed.Webhooks;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Digests;

/// <summary>
/// Sends one user's digest for one period, at most once however often it runs and however many
/// workers run it at the same time.
/// </summary>
/// <remarks>
/// <para>
/// The (user, period) row in <c>digests</c> is the claim. A run takes it with one atomic upsert
/// that succeeds only if the row is new, pending, or sending under a lease that has run out; it
/// then holds a lease (<see cref="DigestOptions.SendLease"/>) and a token, composes, sends, and
/// marks the row sent (or nothing-new) with that token. A second run, concurrent or later, finds
/// the row taken or done and does nothing.
/// </para>
/// <para>
/// A failed attempt releases the claim (back to pending) and throws, so Hangfire retries it; after
/// <see cref="DigestOptions.MaxSendAttempts"/> the row is marked failed. A worker that dies
/// mid-send leaves its lease to run out; the scheduler then enqueues the digest again. The one
/// window with a duplicate is a crash after the SMTP server accepted the email and before the row
/// was marked: at-least-once, as any SMTP sender (the Message-ID is the same in both copies).
/// </para>
/// </remarks>
public sealed class SendDigestJob(
    NpgsqlDataSource postgres,
    DigestComposer composer,
    DigestMailer mailer,
    OutboxDispatcher dispatcher,
    FeedMetrics metrics,
    IOptions<DigestOptions> options,
    ILogger<SendDigestJob> logger)
{
    private const string ClaimSql = """
        INSERT INTO digests (user_id, period, status, attempts, lease_until, lease_token)
        VALUES ($1, $2, 2, 1, now() + $3, $4)
        ON CONFLICT (user_id, period) DO UPDATE
            SET status = 2, attempts = digests.attempts + 1, lease_until = excluded.lease_until, lease_token = excluded.lease_token
            WHERE (digests.status = 1 OR (digests.status = 2 AND digests.lease_until < now()))
              AND digests.attempts < $5
        RETURNING id, attempts
        """;

    // A user who turned digests off after the scheduler claimed the period: drop the unclaimed row.
    private const string DropPendingSql = "DELETE FROM digests WHERE user_id = $1 AND period = $2 AND status = 1";

    private const string FinishSql = """
        UPDATE digests SET status = $3, covered_from = $4, covered_until = $5, post_count = $6, total_count = $7,
                           sent_at = CASE WHEN $3 = 3 THEN now() END, lease_until = NULL, lease_token = NULL, last_error = NULL
        WHERE id = $1 AND lease_token = $2
        """;

    private const string ReleaseSql = """
        UPDATE digests SET status = CASE WHEN attempts >= $3 THEN 5 ELSE 1 END,
                           lease_until = now() + $4, lease_token = NULL, last_error = $5
        WHERE id = $1 AND lease_token = $2
        RETURNING status
        """;

    private readonly DigestOptions _options = options.Value;

    [Queue(JobQueues.Digests)]
    [DisplayName("Send digest to user {0} for {1}")]
    [AutomaticRetry(Attempts = 4, DelaysInSeconds = [30, 120, 600, 1800])]
    public async Task<DigestOutcome> RunAsync(long userId, string period, CancellationToken ct)
    {
        if (DigestPeriods.FrequencyOf(period) is not { } frequency)
        {
            logger.LogError("Digest job for user {UserId} has an invalid period {Period}; dropped", userId, period);
            return DigestOutcome.NotSubscribed;
        }
        var recipient = await composer.LoadRecipientAsync(userId, ct);
        if (recipient is not { DigestEnabled: true, Email: not null } || recipient.Frequency != frequency)
        {
            await using var drop = postgres.CreateCommand(DropPendingSql);
            drop.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
            drop.Parameters.Add(new NpgsqlParameter<string> { TypedValue = period });
            await drop.ExecuteNonQueryAsync(ct);
            return DigestOutcome.NotSubscribed;
        }

        var token = Guid.NewGuid();
        if (await ClaimAsync(userId, period, token, ct) is not { } digestId)
        {
            logger.LogDebug("Digest of user {UserId} for {Period} is already sent, or being sent by another worker", userId, period);
            return DigestOutcome.AlreadyClaimed;
        }

        try
        {
            var content = await composer.ComposeAsync(recipient, ct);
            if (content.Total == 0)
            {
                await FinishAsync(digestId, token, DigestStatus.NothingNew, recipient, content, ct);
                metrics.DigestNothingNew();
                return DigestOutcome.NothingNew;
            }
            await mailer.SendAsync(mailer.Render(digestId, recipient, content), ct);
            if (!await FinishAsync(digestId, token, DigestStatus.Sent, recipient, content, CancellationToken.None))
            {
                logger.LogWarning(
                    "Digest {DigestId} was sent after its lease ran out and another worker took it over; the user may get it twice. Raise Digests:SendLease",
                    digestId);
            }
            else
            {
                await PublishDigestSentAsync(digestId, userId, period, content);
            }
            metrics.DigestSent();
            return DigestOutcome.Sent;
        }
        catch (Exception ex)
        {
            if (!ct.IsCancellationRequested)
            {
                metrics.DigestFailed();
            }
            var gaveUp = await ReleaseAsync(digestId, token, ex);
            logger.Log(gaveUp ? LogLevel.Error : LogLevel.Warning, ex,
                gaveUp ? "Digest {DigestId} of user {UserId} for {Period} failed for the last time; giving up"
                       : "Digest {DigestId} of user {UserId} for {Period} failed; it will be retried",
                digestId, userId, period);
            throw;
        }
    }

    /// <summary>
    /// The <c>digest.sent</c> event for partner webhooks, once per digest: only by the worker that
    /// marked it sent. Best effort: the email is out, so a failure here is logged, not retried.
    /// </summary>
    private async Task PublishDigestSentAsync(long digestId, long userId, string period, DigestContent content)
    {
        try
        {
            await using var connection = await postgres.OpenConnectionAsync(CancellationToken.None);
            var data = new DigestSentEventData(
                digestId.ToString(CultureInfo.InvariantCulture), userId.ToString(CultureInfo.InvariantCulture), period, content.Posts.Count, content.Total);
            var deliveries = await WebhookPublisher.PublishAsync(connection, null, WebhookEventTypes.DigestSent, data, DateTimeOffset.UtcNow, CancellationToken.None);
            dispatcher.EnqueueDeliveriesSoon(deliveries);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            logger.LogWarning(ex, "digest.sent for digest {DigestId} could not be published", digestId);
        }
    }

    private async Task<long?> ClaimAsync(long userId, string period, Guid token, CancellationToken ct)
    {
        await using var claim = postgres.CreateCommand(ClaimSql);
        claim.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
        claim.Parameters.Add(new NpgsqlParameter<string> { TypedValue = period });
        claim.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.SendLease });
        claim.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = token });
        claim.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxSendAttempts });
        await using var reader = await claim.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? reader.GetInt64(0) : null;
    }

    private async Task<bool> FinishAsync(
        long digestId, Guid token, DigestStatus status, DigestRecipient recipient, DigestContent content, CancellationToken ct)
    {
        await using var finish = postgres.CreateCommand(FinishSql);
        finish.Parameters.Add(new NpgsqlParameter<long> { TypedValue = digestId });
        finish.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = token });
        finish.Parameters.Add(new NpgsqlParameter<short> { TypedValue = (short)status });
        finish.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = recipient.Since });
        finish.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = recipient.Until });
        finish.Parameters.Add(new NpgsqlParameter<int> { TypedValue = content.Posts.Count });
        finish.Parameters.Add(new NpgsqlParameter<int> { TypedValue = content.Total });
        return await finish.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary>Gives the claim back after a failure (pending again, or failed for good). True when it gave up.</summary>
    private async Task<bool> ReleaseAsync(long digestId, Guid token, Exception error)
    {
        try
        {
            await using var release = postgres.CreateCommand(ReleaseSql);
            release.Parameters.Add(new NpgsqlParameter<long> { TypedValue = digestId });
            release.Parameters.Add(new NpgsqlParameter<Guid> { TypedValue = token });
            release.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.MaxSendAttempts });
            release.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = _options.RequeueAfter });
            var message = $"{error.GetType().Name}: {error.Message}";
            release.Parameters.Add(new NpgsqlParameter<string> { TypedValue = message.Length > 500 ? message[..500] : message });
            return await release.ExecuteScalarAsync(CancellationToken.None) is short status && status == (short)DigestStatus.Failed;
        }
        catch (Exception releaseError)
        {
            // The lease runs out by itself; the scheduler then enqueues the digest again.
            logger.LogWarning(releaseError, "Could not release the claim on digest {DigestId}", digestId);
            return false;
        }
    }
}

/// <summary>What a <see cref="SendDigestJob"/> run did (shown as the job's result in the dashboard).</summary>
public enum DigestOutcome
{
    /// <summary>The email was accepted by the SMTP server.</summary>
    Sent,

    /// <summary>Nothing new: no email, the period is done.</summary>
    NothingNew,

    /// <summary>Another run has sent it, or is sending it now: nothing done.</summary>
    AlreadyClaimed,

    /// <summary>The user has digests off, no email address, or another frequency now: nothing done.</summary>
    NotSubscribed,
}
