using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// A logger provider that reads every log line the app writes (Debug and up) and remembers the
/// ones that contain a secret: the signing key, a dashboard password, anything shaped like a JWT
/// (base64url JSON header, <c>eyJ…</c>), a webhook signing secret (<c>whsec_…</c>) or a partner API
/// key (<c>fpk_…</c>). Nothing else is kept.
/// </summary>
public sealed class SecretLogScanner : ILoggerProvider
{
    private readonly string[] _secrets;
    private readonly ConcurrentQueue<string> _leaks = new();
    private long _lines;

    public SecretLogScanner(params string[] secrets) => _secrets = secrets;

    public IReadOnlyCollection<string> Leaks => _leaks;

    public long LinesRead => Interlocked.Read(ref _lines);

    public ILogger CreateLogger(string categoryName) => new Scanner(this, categoryName);

    public void Dispose()
    {
    }

    private void Inspect(string category, string text)
    {
        Interlocked.Increment(ref _lines);
        if (text.Contains("eyJ", StringComparison.Ordinal) || text.Contains("whsec_", StringComparison.Ordinal) ||
            text.Contains("fpk_", StringComparison.Ordinal) || _secrets.Any(s => text.Contains(s, StringComparison.Ordinal)))
        {
            _leaks.Enqueue($"{category}: {text[..Math.Min(300, text.Length)]}");
        }
    }

    private sealed class Scanner(SecretLogScanner owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Inspect(category, formatter(state, exception) + " " + exception);
    }
}
