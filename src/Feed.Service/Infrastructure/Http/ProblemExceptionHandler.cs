using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace Feed.Infrastructure.Http;

/// <summary>
/// Turns exceptions into RFC 9457 problem+json: request-binding failures (malformed JSON, wrong
/// types, non-numeric ids) become 4xx with the reason; a dependency outage becomes 503; anything
/// else a 500 that reveals nothing internal.
/// </summary>
internal sealed class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken ct)
    {
        int status;
        string title;
        string? detail;
        switch (exception)
        {
            case BadHttpRequestException bad:
                status = bad.StatusCode;
                title = status == StatusCodes.Status413PayloadTooLarge ? "Request body too large" : "Bad request";
                detail = bad.InnerException is JsonException json ? $"{bad.Message} {json.Message}" : bad.Message;
                break;
            case Exception when IsDependencyFailure(exception) && !context.RequestAborted.IsCancellationRequested:
                logger.LogError(exception, "A dependency failed while handling {Method} {Path}", context.Request.Method, context.Request.Path);
                status = StatusCodes.Status503ServiceUnavailable;
                title = "Service unavailable";
                detail = "A storage dependency is unavailable. Retry later.";
                context.Response.Headers.RetryAfter = "5";
                break;
            default:
                logger.LogError(exception, "Unhandled error while handling {Method} {Path}", context.Request.Method, context.Request.Path);
                status = StatusCodes.Status500InternalServerError;
                title = "Internal server error";
                detail = null;
                break;
        }
        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    /// <summary>
    /// Whether a storage dependency failed (anywhere in the chain: EF Core wraps transient failures):
    /// Redis, a timeout, lost Postgres I/O, or Postgres refusing for a reason that passes (connection,
    /// deadlock, resources, shutdown, cancelled statement). Data and constraint errors are bugs, not outages.
    /// </summary>
    internal static bool IsDependencyFailure(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return pg.SqlState[..2] is "08" or "40" or "53" or "57" or "58" || pg.SqlState == PostgresErrorCodes.LockNotAvailable;
                case NpgsqlException or StackExchange.Redis.RedisException or TimeoutException:
                    return true;
            }
        }
        return false;
    }
}
