using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net;

namespace Feed.Webhooks;

/// <summary>Partner webhook delivery. Bound from the <c>Webhooks</c> section; validated at start-up.</summary>
public sealed class WebhookOptions : IValidatableObject
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Delay before each attempt, the first usually immediate (Standard Webhooks' example schedule:
    /// ten attempts over about three days). Durations like <c>500ms</c>, <c>5s</c>, <c>30m</c>, <c>2h</c>, <c>1d</c>.
    /// After the last attempt fails the delivery is dead-lettered.
    /// </summary>
    [Required]
    public string RetrySchedule { get; set; } = "0s, 5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 24h";

    /// <summary>Each retry delay is spread by up to this fraction either way, so retries of many deliveries do not arrive together.</summary>
    [Range(0.0, 0.5)]
    public double RetryJitter { get; set; } = 0.2;

    /// <summary>A <c>Retry-After</c> on 429 or 503 is honoured up to this long (never shorter than the schedule).</summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long one attempt may take, connection included, before it counts as failed.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How much of a response body is read and kept in the attempt log.</summary>
    [Range(0, 65_536)]
    public int MaxResponseBodyBytes { get; set; } = 1024;

    /// <summary>After a secret rotation the old secret keeps signing (a second signature) this long.</summary>
    public TimeSpan SecretRotationOverlap { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Consecutive failed attempts after which the endpoint's circuit opens.</summary>
    [Range(1, 1000)]
    public int CircuitBreakAfter { get; set; } = 10;

    /// <summary>How long an opened circuit stays open; it doubles with each failed probe up to <see cref="CircuitOpenMax"/>.</summary>
    public TimeSpan CircuitOpenFor { get; set; } = TimeSpan.FromMinutes(1);

    public TimeSpan CircuitOpenMax { get; set; } = TimeSpan.FromHours(1);

    /// <summary>An endpoint that has failed continuously this long is disabled (re-enable it through the API).</summary>
    public TimeSpan DisableAfter { get; set; } = TimeSpan.FromDays(5);

    /// <summary>Attempts to one endpoint at a time, so a slow endpoint holds at most this many workers.</summary>
    [Range(1, 1000)]
    public int MaxConcurrentPerEndpoint { get; set; } = 4;

    /// <summary>How long a delivery waits when its endpoint already has its maximum of attempts in flight.</summary>
    public TimeSpan BusyRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the relay looks for deliveries whose job was lost (a crash, a flushed Redis).</summary>
    public TimeSpan RelayInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A due delivery not attempted this long after it was due is enqueued again by the relay.</summary>
    public TimeSpan RedeliverAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Whether endpoints may use plain http (never in production: bodies and signatures would travel in clear).</summary>
    public bool AllowHttp { get; set; }

    /// <summary>
    /// Networks (CIDR, e.g. <c>10.20.0.0/16</c>) that endpoints may resolve to although they are private,
    /// loopback or link-local. Empty: only public addresses.
    /// </summary>
    public string[] AllowedNetworks { get; set; } = [];

    /// <summary>Subscriptions one partner may have.</summary>
    [Range(1, 10_000)]
    public int MaxSubscriptionsPerPartner { get; set; } = 50;

    /// <summary>
    /// Base64 of 32 bytes: the key that encrypts signing secrets at rest (AES-GCM). When empty, a key is
    /// derived from <c>Auth:SigningKey</c>; set it explicitly to rotate the two independently.
    /// </summary>
    public string? SecretsKey { get; set; }

    /// <summary>The parsed <see cref="RetrySchedule"/>.</summary>
    public IReadOnlyList<TimeSpan> Schedule => _schedule ??= ParseSchedule(RetrySchedule)!;

    private IReadOnlyList<TimeSpan>? _schedule;

    /// <summary>The parsed <see cref="AllowedNetworks"/>.</summary>
    public IReadOnlyList<IPNetwork> Allowed => _allowed ??= AllowedNetworks.Select(n => IPNetwork.Parse(n.Trim())).ToArray();

    private IReadOnlyList<IPNetwork>? _allowed;

    /// <summary>The lease a worker takes on a delivery while attempting it: the timeout plus room to record the result.</summary>
    public TimeSpan AttemptLease => Timeout + TimeSpan.FromSeconds(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ParseSchedule(RetrySchedule) is not { Count: > 0 and <= 30 })
        {
            yield return new ValidationResult(
                "Webhooks:RetrySchedule must be 1 to 30 comma-separated durations such as '0s, 5s, 5m, 2h, 1d'.");
        }
        foreach (var network in AllowedNetworks)
        {
            if (!IPNetwork.TryParse(network.Trim(), out _))
            {
                yield return new ValidationResult($"Webhooks:AllowedNetworks has '{network}', which is not a CIDR network such as 10.0.0.0/8.");
            }
        }
        if (Timeout < TimeSpan.FromMilliseconds(100) || Timeout > TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Webhooks:Timeout must be between 100 ms and 5 minutes.");
        }
        if (CircuitOpenFor <= TimeSpan.Zero || CircuitOpenMax < CircuitOpenFor)
        {
            yield return new ValidationResult("Webhooks:CircuitOpenFor must be positive and at most Webhooks:CircuitOpenMax.");
        }
        if (DisableAfter <= TimeSpan.Zero || RelayInterval <= TimeSpan.Zero || RedeliverAfter <= TimeSpan.Zero ||
            BusyRetryDelay <= TimeSpan.Zero || SecretRotationOverlap < TimeSpan.Zero || MaxRetryAfter < TimeSpan.Zero)
        {
            yield return new ValidationResult(
                "Webhooks:DisableAfter, RelayInterval, RedeliverAfter and BusyRetryDelay must be positive; SecretRotationOverlap and MaxRetryAfter not negative.");
        }
        if (!string.IsNullOrEmpty(SecretsKey) && !IsKey(SecretsKey))
        {
            yield return new ValidationResult("Webhooks:SecretsKey must be the base64 encoding of 32 bytes.");
        }
    }

    private static bool IsKey(string value)
    {
        Span<byte> bytes = stackalloc byte[48];
        return Convert.TryFromBase64String(value, bytes, out var length) && length == 32;
    }

    /// <summary>Parses <c>"0s, 5s, 5m"</c>; null when any part is not a duration.</summary>
    public static List<TimeSpan>? ParseSchedule(string? schedule)
    {
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return null;
        }
        var delays = new List<TimeSpan>();
        foreach (var part in schedule.Split(',', StringSplitOptions.TrimEntries))
        {
            var unit = part.EndsWith("ms", StringComparison.Ordinal) ? "ms" : part.Length > 0 ? part[^1..] : "";
            if (!double.TryParse(part[..^unit.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                return null;
            }
            TimeSpan? delay = unit switch
            {
                "ms" => TimeSpan.FromMilliseconds(value),
                "s" => TimeSpan.FromSeconds(value),
                "m" => TimeSpan.FromMinutes(value),
                "h" => TimeSpan.FromHours(value),
                "d" => TimeSpan.FromDays(value),
                _ => null,
            };
            if (delay is null)
            {
                return null;
            }
            delays.Add(delay.Value);
        }
        return delays;
    }
}
