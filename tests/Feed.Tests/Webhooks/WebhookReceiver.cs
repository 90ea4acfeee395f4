using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StandardWebhooks;

namespace Feed.Tests.Webhooks;

/// <summary>
/// A partner's HTTP server on loopback: each named endpoint (<c>/hooks/{name}</c>) answers as the
/// test scripts it (succeed, fail with a status, stall) and records every request. Signatures are
/// checked with the StandardWebhooks library, an implementation independent of the service's.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, Endpoint> _endpoints = new();

    private WebhookReceiver(WebApplication app) => _app = app;

    /// <summary>The port, on every local address (so 127.0.0.2 reaches it too, were the service to dial it).</summary>
    public int Port { get; private set; }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Any, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.MapPost("/hooks/{name}", receiver.HandleAsync);
        app.MapPost("/elsewhere/{name}", (string name) => receiver.Get(name).Redirected++);
        await app.StartAsync();
        receiver.Port = new Uri(app.Urls.First()).Port;
        return receiver;
    }

    /// <summary>Registers an endpoint; <paramref name="respond"/> gets the attempt number (1-based) for this endpoint.</summary>
    public Endpoint Add(string name, Func<int, Reply>? respond = null)
    {
        var endpoint = new Endpoint(respond ?? (_ => Reply.Ok()));
        _endpoints[name] = endpoint;
        return endpoint;
    }

    public Endpoint Get(string name) => _endpoints[name];

    public string Url(string name, string host = "127.0.0.1") => $"http://{host}:{Port}/hooks/{name}";

    private async Task HandleAsync(string name, HttpContext http)
    {
        if (!_endpoints.TryGetValue(name, out var endpoint))
        {
            http.Response.StatusCode = 404;
            return;
        }
        using var reader = new StreamReader(http.Request.Body);
        var body = await reader.ReadToEndAsync();
        var request = new Received(
            DateTimeOffset.UtcNow,
            http.Request.Headers["webhook-id"].ToString(),
            http.Request.Headers["webhook-timestamp"].ToString(),
            http.Request.Headers["webhook-signature"].ToString(),
            body,
            endpoint.Secrets.ToDictionary(secret => secret, secret => Verifies(secret, body, http.Request.Headers)));
        var attempt = endpoint.Record(request);
        var inFlight = Interlocked.Increment(ref endpoint.InFlight);
        endpoint.MaxInFlight = Math.Max(endpoint.MaxInFlight, inFlight);
        try
        {
            var reply = endpoint.Respond(attempt);
            if (reply.Stall)
            {
                await Task.Delay(Timeout.Infinite, http.RequestAborted).ContinueWith(_ => { });
                endpoint.StallsEnded++;
                return;
            }
            http.Response.StatusCode = reply.Status;
            foreach (var (key, value) in reply.Headers)
            {
                http.Response.Headers[key] = value;
            }
            await http.Response.WriteAsync(reply.Body);
        }
        finally
        {
            Interlocked.Decrement(ref endpoint.InFlight);
        }
    }

    /// <summary>
    /// Whether any signature in the header verifies with <paramref name="secret"/>. Each signature is
    /// given to the library on its own: StandardWebhooks 1.1.2's Verify only ever reads the first of
    /// several space-separated signatures, although the specification allows (and rotation needs) more.
    /// </summary>
    private static bool Verifies(string secret, string body, IHeaderDictionary headers) =>
        headers["webhook-signature"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(signature =>
        {
            var single = new HeaderDictionary
            {
                ["webhook-id"] = headers["webhook-id"],
                ["webhook-timestamp"] = headers["webhook-timestamp"],
                ["webhook-signature"] = signature,
            };
            try
            {
                new StandardWebhook(secret).Verify(body, single);
                return true;
            }
            catch (Exception)
            {
                return false;
            }
        });

    /// <summary>Waits until <paramref name="name"/> has received at least <paramref name="count"/> requests.</summary>
    public async Task<IReadOnlyList<Received>> WaitForAsync(string name, int count, TimeSpan? timeout = null)
    {
        var endpoint = Get(name);
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (endpoint.Requests.Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Endpoint {name} received {endpoint.Requests.Count} of {count} requests in time.");
            }
            await Task.Delay(25);
        }
        return endpoint.Requests;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    public sealed class Endpoint(Func<int, Reply> respond)
    {
        private readonly List<Received> _requests = [];

        public Func<int, Reply> Respond { get; set; } = respond;

        /// <summary>Secrets the endpoint knows; each request records which of them verify it.</summary>
        public List<string> Secrets { get; } = [];

        public int InFlight;

        public int MaxInFlight { get; set; }

        public int StallsEnded { get; set; }

        public int Redirected { get; set; }

        public IReadOnlyList<Received> Requests
        {
            get
            {
                lock (_requests)
                {
                    return [.. _requests];
                }
            }
        }

        internal int Record(Received request)
        {
            lock (_requests)
            {
                _requests.Add(request);
                return _requests.Count;
            }
        }
    }
}

/// <summary>How an endpoint answers one request.</summary>
public sealed record Reply(int Status, string Body = "", bool Stall = false, Dictionary<string, string>? ExtraHeaders = null)
{
    public IReadOnlyDictionary<string, string> Headers => ExtraHeaders ?? [];

    public static Reply Ok() => new(200, "ok");

    public static Reply Fail(int status = 500, string body = "failing") => new(status, body);

    public static Reply Hang() => new(0, Stall: true);
}

/// <summary>One request as the endpoint saw it, with the verdict of each known secret.</summary>
public sealed record Received(
    DateTimeOffset At, string WebhookId, string Timestamp, string Signature, string Body, IReadOnlyDictionary<string, bool> VerifiedBy)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;

    public string Type => Json.GetProperty("type").GetString()!;
}
