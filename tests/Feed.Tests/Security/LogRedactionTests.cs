using System.Collections;
using Feed.Infrastructure.Logging;
using Microsoft.Extensions.Logging;

namespace Feed.Tests.Security;

/// <summary>The query-redacting logger factory, on its own: what providers receive for each kind of entry.</summary>
public sealed class LogRedactionTests
{
    private const string Token = "1234567890123456.q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq83";

    [Theory]
    [InlineData("?token=" + Token, "?token=[redacted]")]
    [InlineData("?limit=20&token=" + Token + "&x", "?limit=[redacted]&token=[redacted]&x")]
    [InlineData("?token=", "?token=")]
    [InlineData("?a=1?b=2#frag", "?a=[redacted]#frag")]
    [InlineData("GET http://h:80/v1/digests/unsubscribe?token=" + Token + " - 200 - text/html 1.2ms",
        "GET http://h:80/v1/digests/unsubscribe?token=[redacted] - 200 - text/html 1.2ms")]
    [InlineData(@"Invalid request target: '/v1/digests/unsubscribe?token=" + Token + @"\x01'", "Invalid request target: '/v1/digests/unsubscribe?token=[redacted]")]
    [InlineData("multipart/form-data; boundary=abc", "multipart/form-data; boundary=abc")]
    [InlineData("/v1/feed", "/v1/feed")]
    public void Query_values_are_redacted_and_everything_else_kept(string text, string expected) =>
        Assert.Equal(expected, QueryRedaction.Redact(text));

    [Fact]
    public void A_hosting_request_line_reaches_every_provider_redacted_in_its_message_and_values()
    {
        var (factory, provider) = Create(LogLevel.Information);
        var state = new RequestStartingState("/v1/digests/unsubscribe", "?token=" + Token);

        factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").Log(LogLevel.Information, new EventId(1, "RequestStarting"), state, null, RequestStartingState.Format);

        var entry = Assert.Single(provider.Entries);
        Assert.Equal("Request starting HTTP/1.1 GET http://feed.test/v1/digests/unsubscribe?token=[redacted] - - -", entry.Message);
        Assert.Equal("?token=[redacted]", entry.Values["QueryString"]);
        Assert.Equal("/v1/digests/unsubscribe", entry.Values["Path"]);
        Assert.Equal("GET", entry.Values["Method"]);
        Assert.Equal(RequestStartingState.OriginalFormat, entry.Values["{OriginalFormat}"]);
        Assert.Equal(1, entry.EventId.Id);
        Assert.DoesNotContain(Token, entry.Message + string.Join(" ", entry.Values.Values));
    }

    [Fact]
    public void Entries_without_query_values_and_other_categories_pass_through_untouched()
    {
        var (factory, provider) = Create(LogLevel.Information);
        var plain = new RequestStartingState("/v1/feed", "");
        var other = new RequestStartingState("/v1/digests/unsubscribe", "?token=" + Token);

        factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").Log(LogLevel.Information, default, plain, null, RequestStartingState.Format);
        factory.CreateLogger("Feed.Digests.SendDigestJob").Log(LogLevel.Information, default, other, null, RequestStartingState.Format);

        Assert.Same(plain, provider.Entries[0].State);
        Assert.Same(other, provider.Entries[1].State);
        Assert.IsNotType<QueryRedactingLogger>(factory.CreateLogger("Feed.Digests.SendDigestJob"));
        Assert.IsType<QueryRedactingLogger>(factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics"));
        Assert.False(QueryRedactingLoggerFactory.IsRedacted("Microsoft.AspNetCore.HostingX"));
        Assert.True(QueryRedactingLoggerFactory.IsRedacted("Microsoft.AspNetCore.Server.Kestrel.BadRequests"));
    }

    [Fact]
    public void A_disabled_level_is_not_formatted()
    {
        var (factory, provider) = Create(LogLevel.Warning);
        var formatted = false;

        factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").Log(LogLevel.Information, default, "?token=" + Token, null, (s, _) =>
        {
            formatted = true;
            return s;
        });

        Assert.False(formatted);
        Assert.Empty(provider.Entries);
    }

    [Fact]
    public void A_kestrel_bad_request_exception_quoting_the_target_is_redacted()
    {
        var (factory, provider) = Create(LogLevel.Debug);
        var exception = new InvalidOperationException($"Invalid request target: '/v1/digests/unsubscribe?token={Token}'");

        factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel.BadRequests").LogDebug(exception, "Connection id \"{ConnectionId}\" bad request data: \"{Message}\"", "c1", exception.Message);

        var entry = Assert.Single(provider.Entries);
        Assert.Contains("?token=[redacted]", entry.Message);
        Assert.Contains("c1", entry.Message);
        Assert.Contains(nameof(InvalidOperationException), entry.Exception!.ToString());
        Assert.Contains("?token=[redacted]", entry.Exception.ToString());
        Assert.DoesNotContain(Token, entry.Message + entry.Exception + string.Join(" ", entry.Values.Values));
    }

    [Fact]
    public void Provider_filters_still_apply_through_the_decorator()
    {
        var (factory, provider) = Create(LogLevel.Warning);
        var hosting = factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics");

        hosting.LogInformation("Request starting {QueryString}", "?token=" + Token);
        hosting.LogWarning("Request starting {QueryString}", "?token=" + Token);

        Assert.Equal("Request starting ?token=[redacted]", Assert.Single(provider.Entries).Message);
    }

    private static (ILoggerFactory Factory, CapturingProvider Provider) Create(LogLevel minimum)
    {
        var provider = new CapturingProvider();
        var inner = LoggerFactory.Create(logging => logging.AddProvider(provider).SetMinimumLevel(minimum));
        return (new QueryRedactingLoggerFactory(inner), provider);
    }

    /// <summary>Shaped like ASP.NET Core's internal HostingRequestStartingLog: values, a template, its own formatting.</summary>
    private sealed class RequestStartingState(string path, string query) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public const string OriginalFormat = "Request starting {Protocol} {Method} {Scheme}://{Host}{PathBase}{Path}{QueryString} - {ContentType} {ContentLength}";

        public static readonly Func<RequestStartingState, Exception?, string> Format = (s, _) => s.ToString();

        private KeyValuePair<string, object?>[] Values =>
        [
            new("Protocol", "HTTP/1.1"), new("Method", "GET"), new("ContentType", null), new("ContentLength", null),
            new("Scheme", "http"), new("Host", "feed.test"), new("PathBase", ""), new("Path", path), new("QueryString", query),
            new("{OriginalFormat}", OriginalFormat),
        ];

        public int Count => Values.Length;

        public KeyValuePair<string, object?> this[int index] => Values[index];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)Values).GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => $"Request starting HTTP/1.1 GET http://feed.test{path}{query} - - -";
    }

    private sealed record Entry(EventId EventId, object? State, string Message, Dictionary<string, object?> Values, Exception? Exception);

    private sealed class CapturingProvider : ILoggerProvider, ILogger
    {
        public List<Entry> Entries { get; } = [];

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Add(new Entry(eventId, state, formatter(state, exception),
                (state as IEnumerable<KeyValuePair<string, object?>> ?? []).ToDictionary(v => v.Key, v => v.Value), exception));

        public void Dispose()
        {
        }
    }
}
