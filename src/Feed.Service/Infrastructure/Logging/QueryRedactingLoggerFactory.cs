using System.Collections;

namespace Feed.Infrastructure.Logging;

/// <summary>
/// The logger factory every part of the process gets: the real <see cref="LoggerFactory"/> (its
/// providers, filter rules and provider aliases all as configured), except that loggers of the
/// categories that write request URLs redact query parameter values (<see cref="QueryRedaction"/>)
/// before any provider sees the entry. Unsubscribe tokens travel in the query string
/// (<c>/v1/digests/unsubscribe?token=…</c>), and ASP.NET Core's hosting diagnostics write it in
/// "Request starting" and "Request finished" at Information.
/// </summary>
/// <remarks>
/// Redacting here, not in a provider or with a filter, holds for every provider at every level,
/// whatever filters an operator sets. The formatted message, the structured values (what JSON
/// and OpenTelemetry providers write) and the exception text are all redacted. Other categories
/// get the inner factory's loggers unchanged, and a redacting logger costs a few string scans
/// per entry only when its level is enabled. The container owns and disposes the inner factory.
/// </remarks>
internal sealed class QueryRedactingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    /// <summary>The key under which the real factory stays registered.</summary>
    public const string InnerKey = "Feed.Logging.Unredacted";

    /// <summary>
    /// Categories that write request URLs: hosting's request start and finish lines, HTTP logging
    /// (<c>HttpLoggingFields.RequestQuery</c>), and Kestrel, whose bad-request messages quote the
    /// request line or target.
    /// </summary>
    private static readonly string[] RedactedCategories =
    [
        "Microsoft.AspNetCore.Hosting.Diagnostics",
        "Microsoft.AspNetCore.HttpLogging",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return IsRedacted(categoryName) ? new QueryRedactingLogger(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
    }

    /// <summary>Whether a category is one of <see cref="RedactedCategories"/> or below one.</summary>
    internal static bool IsRedacted(string categoryName) =>
        RedactedCategories.Any(c => categoryName.StartsWith(c, StringComparison.Ordinal) &&
                                    (categoryName.Length == c.Length || categoryName[c.Length] == '.'));
}

/// <summary>A logger that rewrites entries holding query parameter values and passes the rest through untouched.</summary>
internal sealed class QueryRedactingLogger(ILogger inner) : ILogger
{
    /// <summary>The message template's key in structured states: a template, never a value.</summary>
    private const string OriginalFormat = "{OriginalFormat}";

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!inner.IsEnabled(logLevel))
        {
            return;
        }
        var values = state as IReadOnlyList<KeyValuePair<string, object?>>;
        // A structured state (LoggerMessage's, hosting's own) formats from its values, so clean values
        // make a clean message; any other state has to be formatted to be checked.
        string? message = null;
        var clean = values is not null ? !HoldsQueryValue(values) : !QueryRedaction.HoldsQueryValue(message = formatter(state, exception));
        if (clean && !HoldsQueryValue(exception))
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
            return;
        }
        var redacted = new RedactedState(QueryRedaction.Redact(message ?? formatter(state, exception)), Redact(values));
        inner.Log(logLevel, eventId, redacted, Redact(exception), static (s, _) => s.Message);
    }

    private static string? Text(object? value) => value switch
    {
        string s => s,
        QueryString q => q.Value,
        Uri u => u.OriginalString,
        _ => null,
    };

    private static bool HoldsQueryValue(IReadOnlyList<KeyValuePair<string, object?>> values)
    {
        for (var i = 0; i < values.Count; i++)
        {
            if (values[i].Key != OriginalFormat && Text(values[i].Value) is { } text && QueryRedaction.HoldsQueryValue(text))
            {
                return true;
            }
        }
        return false;
    }

    private static KeyValuePair<string, object?>[] Redact(IReadOnlyList<KeyValuePair<string, object?>>? values)
    {
        if (values is null)
        {
            return [];
        }
        var redacted = new KeyValuePair<string, object?>[values.Count];
        for (var i = 0; i < redacted.Length; i++)
        {
            var (key, value) = values[i];
            redacted[i] = key != OriginalFormat && Text(value) is { } text && QueryRedaction.HoldsQueryValue(text)
                ? new(key, QueryRedaction.Redact(text))
                : values[i];
        }
        return redacted;
    }

    private static bool HoldsQueryValue(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (QueryRedaction.HoldsQueryValue(e.Message))
            {
                return true;
            }
        }
        return false;
    }

    private static Exception? Redact(Exception? exception) =>
        HoldsQueryValue(exception) ? new RedactedException(QueryRedaction.Redact(exception!.ToString())) : exception;

    /// <summary>The rewritten entry: the redacted message, and the values with their query parameter values redacted.</summary>
    private sealed class RedactedState(string message, KeyValuePair<string, object?>[] values) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public string Message => message;

        public int Count => values.Length;

        public KeyValuePair<string, object?> this[int index] => values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)values).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => message;
    }
}

/// <summary>
/// Stands in for an exception whose message held query parameter values (a Kestrel bad-request
/// exception quoting the request line): its text is the original's <c>ToString()</c> (type,
/// message, inner exceptions, stack), redacted.
/// </summary>
internal sealed class RedactedException(string text) : Exception(text)
{
    public override string ToString() => Message;
}

internal static class QueryRedactingLoggingExtensions
{
    /// <summary>
    /// Puts <see cref="QueryRedactingLoggerFactory"/> in front of the registered logger factory,
    /// which stays registered (keyed) and is built by the container exactly as before.
    /// </summary>
    public static IServiceCollection AddQueryRedactingLogging(this IServiceCollection services)
    {
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory) && !d.IsKeyedService)
            ?? throw new InvalidOperationException("Logging must be registered before the query-redacting logger factory.");
        var key = QueryRedactingLoggerFactory.InnerKey;
        services.Remove(registered);
        services.Add(registered switch
        {
            { ImplementationType: { } type } => new ServiceDescriptor(typeof(ILoggerFactory), key, type, registered.Lifetime),
            { ImplementationFactory: { } factory } => new ServiceDescriptor(typeof(ILoggerFactory), key, (sp, _) => factory(sp), registered.Lifetime),
            _ => new ServiceDescriptor(typeof(ILoggerFactory), key, registered.ImplementationInstance!),
        });
        services.AddSingleton<ILoggerFactory>(sp => new QueryRedactingLoggerFactory(sp.GetRequiredKeyedService<ILoggerFactory>(key)));
        return services;
    }
}
