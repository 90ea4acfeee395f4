using System.Globalization;
using System.Security.Claims;
using Feed.Infrastructure.Http;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Feed.Infrastructure.Protection;

/// <summary>
/// Per-user limit on writes, shared by every API process: a generic cell rate algorithm (a token
/// bucket of <see cref="ProtectionOptions.WriteBurst"/> refilled at
/// <see cref="ProtectionOptions.WritesPerMinute"/>) kept in Redis under <c>rl:{userId}</c>, with
/// Redis's own clock so the processes' clocks do not matter.
/// </summary>
public sealed class WriteRateLimiter(IConnectionMultiplexer redis, IOptions<ProtectionOptions> options)
{
    // ARGV: emission interval (µs), burst. Returns {allowed (1/0), retry after (µs)}.
    private const string GcraScript = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local interval = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or now)
        if tat < now then tat = now end
        local allow_at = tat - (burst - 1) * interval
        if now < allow_at then return {0, allow_at - now} end
        tat = tat + interval
        redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000) + 1)
        return {1, 0}
        """;

    private readonly IDatabase _db = redis.GetDatabase();
    private readonly long _intervalMicros = 60_000_000L / options.Value.WritesPerMinute;
    private readonly int _burst = options.Value.WriteBurst;

    public static RedisKey Key(long userId) => $"rl:{{{userId}}}";

    /// <returns>Null when the write may go ahead, else how long to wait.</returns>
    public async Task<TimeSpan?> TryAcquireAsync(long userId)
    {
        var result = (RedisResult[])(await _db.ScriptEvaluateAsync(GcraScript, [Key(userId)], [_intervalMicros, _burst]))!;
        return (long)result[0] == 1 ? null : TimeSpan.FromMicroseconds((long)result[1]);
    }
}

/// <summary>
/// Applies <see cref="WriteRateLimiter"/> to an endpoint: 429 problem+json with <c>Retry-After</c>, nothing
/// written. Fails open: with Redis unreachable, writes still reach Postgres (losing Redis must not lose posts).
/// </summary>
internal sealed class WriteRateLimitFilter(WriteRateLimiter limiter, ILogger<WriteRateLimitFilter> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var user = context.HttpContext.User;
        if (user.FindFirstValue("sub") is null)
        {
            return await next(context);
        }
        TimeSpan? wait;
        try
        {
            wait = await limiter.TryAcquireAsync(user.UserId());
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            logger.LogWarning(ex, "Write rate limit unavailable; letting the write through");
            wait = null;
        }
        if (wait is not null)
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(wait.Value.TotalSeconds));
            context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return TypedResults.Problem(
                $"Too many writes: retry after {seconds} s.", statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests");
        }
        return await next(context);
    }
}

/// <summary>Endpoint conventions for the protections.</summary>
internal static class ProtectionConventions
{
    /// <summary>Counts the endpoint's requests against the caller's write limit.</summary>
    public static RouteHandlerBuilder WithWriteRateLimit(this RouteHandlerBuilder builder) =>
        builder.AddEndpointFilter<WriteRateLimitFilter>()
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
}
