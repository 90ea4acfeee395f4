using System.ComponentModel.DataAnnotations;
using System.Text;
using Feed.Infrastructure.Hangfire;
using MailKit.Security;
using MimeKit;

namespace Feed.Digests;

/// <summary>When and how digests go out. Bound from the <c>Digests</c> configuration section.</summary>
public sealed class DigestOptions : IValidatableObject
{
    public const string Section = "Digests";

    /// <summary>
    /// How often <see cref="ScheduleDigestsJob"/> looks for users whose delivery time has come (UTC
    /// cron). Digests arrive at most this late after the delivery time.
    /// </summary>
    public string ScheduleCron { get; set; } = "*/5 * * * *";

    /// <summary>Local time of day, on each user's own clock, from which their digest is due.</summary>
    public TimeOnly DeliveryLocalTime { get; set; } = new(8, 0);

    /// <summary>
    /// How long after the delivery time a period's digest may still be started. Past it the period
    /// is skipped: a morning digest that arrives in the evening is worse than none (after an outage,
    /// or for a user who opts in at night). Must be longer than the schedule's interval.
    /// </summary>
    public TimeSpan DeliveryWindow { get; set; } = TimeSpan.FromHours(4);

    /// <summary>The local weekday on which weekly digests go out.</summary>
    public DayOfWeek WeeklyDay { get; set; } = DayOfWeek.Monday;

    /// <summary>Posts shown in a digest; the rest are counted ("and 12 more").</summary>
    [Range(1, 50)]
    public int TopPosts { get; set; } = 10;

    /// <summary>Posts shown per author before other authors' posts get a turn (see the ranking in the README).</summary>
    [Range(1, 50)]
    public int MaxPostsPerAuthor { get; set; } = 3;

    /// <summary>A digest never reaches further back than this, however long ago the user last read or got a digest.</summary>
    public TimeSpan MaxLookback { get; set; } = TimeSpan.FromDays(14);

    /// <summary>Users the scheduler claims per database round trip (one <see cref="SendDigestJob"/> each).</summary>
    [Range(1, 10_000)]
    public int BatchSize { get; set; } = 500;

    /// <summary>
    /// A claimed digest whose job never ran (a lost queue) is enqueued again by the scheduler after
    /// this long, while its delivery window is open.
    /// </summary>
    public TimeSpan RequeueAfter { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long a worker owns a digest it is sending. Another worker may take over only after the
    /// lease has run out, so it must be far longer than a send (see <see cref="SmtpSettings.Timeout"/>).
    /// </summary>
    public TimeSpan SendLease { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Attempts to send one digest (Hangfire retries and scheduler re-enqueues together) before it is marked failed.</summary>
    [Range(1, 100)]
    public int MaxSendAttempts { get; set; } = 6;

    /// <summary>The public address of the API, for the unsubscribe links in emails.</summary>
    public string PublicBaseUrl { get; set; } = "http://127.0.0.1:5080";

    /// <summary>
    /// HMAC key of unsubscribe tokens (at least 32 bytes). When empty, a key is derived from
    /// <c>Auth:SigningKey</c> with HKDF, so rotating the signing key also invalidates old links.
    /// </summary>
    public string? UnsubscribeKey { get; set; }

    /// <summary>The sender, as an RFC 5322 mailbox: <c>Feed &lt;digest@example.com&gt;</c>.</summary>
    public string From { get; set; } = "Feed <digest@feed.localhost>";

    public SmtpSettings Smtp { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (CronSchedules.Error("Digests:ScheduleCron", ScheduleCron) is { } cronError)
        {
            yield return new ValidationResult(cronError);
        }
        if (DeliveryWindow < TimeSpan.FromMinutes(5) || DeliveryLocalTime.ToTimeSpan() + DeliveryWindow > TimeSpan.FromDays(1))
        {
            yield return new ValidationResult(
                "Digests:DeliveryWindow must be at least 5 minutes and must end by midnight after Digests:DeliveryLocalTime.");
        }
        if (!Enum.IsDefined(WeeklyDay))
        {
            yield return new ValidationResult("Digests:WeeklyDay must be a day of the week (Monday … Sunday).");
        }
        if (MaxLookback < TimeSpan.FromDays(7))
        {
            yield return new ValidationResult("Digests:MaxLookback must be at least 7 days, so a weekly digest covers its week.");
        }
        if (RequeueAfter < TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Digests:RequeueAfter must be at least one minute.");
        }
        if (SendLease < Smtp.Timeout * 4)
        {
            yield return new ValidationResult("Digests:SendLease must be at least four times Digests:Smtp:Timeout (connect, authenticate, send, quit).");
        }
        if (!Uri.TryCreate(PublicBaseUrl, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
        {
            yield return new ValidationResult("Digests:PublicBaseUrl must be an absolute http(s) URL.");
        }
        if (!string.IsNullOrEmpty(UnsubscribeKey) && Encoding.UTF8.GetByteCount(UnsubscribeKey) < 32)
        {
            yield return new ValidationResult("Digests:UnsubscribeKey must be at least 32 bytes when set.");
        }
        if (!MailboxAddress.TryParse(From, out var from) || !from.Address.Contains('@'))
        {
            yield return new ValidationResult("Digests:From must be a mailbox such as 'Feed <digest@example.com>'.");
        }
        if (string.IsNullOrWhiteSpace(Smtp.Host) || Smtp.Port is < 1 or > 65535)
        {
            yield return new ValidationResult("Digests:Smtp:Host must be set and Digests:Smtp:Port must be 1–65535.");
        }
        if (Smtp.Timeout < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Digests:Smtp:Timeout must be at least one second.");
        }
        if (!Enum.IsDefined(Smtp.Security))
        {
            yield return new ValidationResult("Digests:Smtp:Security must be None, Auto, SslOnConnect, StartTls or StartTlsWhenAvailable.");
        }
    }
}

/// <summary>The SMTP server digests are handed to (a relay that signs and delivers; Mailpit or maildev locally).</summary>
public sealed class SmtpSettings
{
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 1025;

    /// <summary>
    /// TLS: <c>StartTls</c> (required upgrade, the default), <c>SslOnConnect</c> (port 465),
    /// <c>StartTlsWhenAvailable</c>, <c>Auto</c>, or <c>None</c> (local mail catchers only).
    /// </summary>
    public SecureSocketOptions Security { get; set; } = SecureSocketOptions.StartTls;

    /// <summary>User name for SMTP AUTH; no authentication when empty.</summary>
    public string? User { get; set; }

    /// <summary>Password for SMTP AUTH. Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>Time limit of each SMTP operation (connect, authenticate, send).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
}
