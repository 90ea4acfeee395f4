using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// A logger provider that reads every log line the app writes (Debug and up), its structured values
/// as well as its message, and remembers the ones that contain a secret: the signing key, a
/// dashboard password, anything shaped like a JWT (base64url JSON header, <c>eyJ…</c>), a webhook
/// signing secret (<c>whsec_…</c>), a partner API key (<c>fpk_…</c>) or a digest unsubscribe token
/// (<c>{userId}.{base64url HMAC-SHA256}</c>). Nothing else is kept, except how many lines held
/// each text a test asked to <see cref="Watch"/>.
/// </summary>
public sealed partial class SecretLogScanner : ILoggerProvider
{
    private readonly string[] _secrets;
    private readonly ConcurrentQueue<string> _leaks = new();
    private readonly ConcurrentDictionary<string, long> _watched = new();
    private long _lines;

    public SecretLogScanner(params string[] secrets) => _secrets = secrets;

    public IReadOnlyCollection<string> Leaks => _leaks;

    public long LinesRead => Interlocked.Read(ref _lines);

    /// <summary>Starts counting the lines that contain <paramref name="text"/> (see <see cref="Seen"/>).</summary>
    public void Watch(string text) => _watched.TryAdd(text, 0);

    /// <summary>How many lines contained a watched text since <see cref="Watch"/>.</summary>
    public long Seen(string text) => _watched.TryGetValue(text, out var count) ? count : 0;

    public ILogger CreateLogger(string categoryName) => new Scanner(this, categoryName);

    public void Dispose()
    {
    }

    /// <summary>
    /// An unsubscribe token: a user id (53-bit, so many digits) and the 43 base64url characters of
    /// a 32-byte MAC (UnsubscribeTokens), as it appears in a link's query string.
    /// </summary>
    [GeneratedRegex(@"(?<![\w-])\d{6,}\.[A-Za-z0-9_-]{43}")]
    private static partial Regex UnsubscribeToken();

    private void Inspect(string category, string text)
    {
        Interlocked.Increment(ref _lines);
        if (text.Contains("eyJ", StringComparison.Ordinal) || text.Contains("whsec_", StringComparison.Ordinal) ||
            text.Contains("fpk_", StringComparison.Ordinal) || _secrets.Any(s => text.Contains(s, StringComparison.Ordinal)) ||
            UnsubscribeToken().IsMatch(text))
        {
            _leaks.Enqueue($"{category}: {text[..Math.Min(300, text.Length)]}");
        }
        foreach (var watched in _watched.Keys.Where(w => text.Contains(w, StringComparison.Ordinal)))
        {
            _watched.AddOrUpdate(watched, 1, (_, count) => count + 1);
        }
    }

    private sealed class Scanner(SecretLogScanner owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The values too: structured providers (JSON console, OpenTelemetry) write them apart from the message.
            var line = new StringBuilder(formatter(state, exception)).Append(' ').Append(exception);
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                foreach (var (key, value) in values)
                {
                    line.Append(' ').Append(key).Append('=').Append(value);
                }
            }
            owner.Inspect(category, line.ToString());
        }
    }
}
