using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Feed.LoadTests.Driver;

/// <summary>
/// The service's HTTP API, on one <see cref="HttpClient"/> per target (API process) whose
/// <see cref="SocketsHttpHandler"/> caps the connections: requests beyond the cap wait for a free
/// connection, and that wait is part of their measured latency. With several targets, requests go
/// round-robin, as behind a load balancer.
/// </summary>
public sealed class FeedApiClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = JsonSerializerOptions.Web;
    private readonly HttpClient[] _targets;
    private int _next = -1;

    /// <param name="maxConnections">Connections per target at most.</param>
    public FeedApiClient(IReadOnlyList<Uri> targets, int maxConnections, TimeSpan timeout)
    {
        ArgumentOutOfRangeException.ThrowIfZero(targets.Count);
        _targets = [.. targets.Select(url => new HttpClient(Handler(maxConnections)) { BaseAddress = url, Timeout = timeout })];
    }

    /// <summary>The next target in turn.</summary>
    private HttpClient Http => _targets[(int)((uint)Interlocked.Increment(ref _next) % (uint)_targets.Length)];

    /// <summary><c>GET /health/live</c>.</summary>
    public async Task CheckLiveAsync(CancellationToken ct)
    {
        using var response = await Http.GetAsync("/health/live", ct);
        EnsureSuccess(response, "GET /health/live");
    }

    /// <summary>Fails with <paramref name="advice"/> when a target does not answer <c>/health/live</c>.</summary>
    public async Task EnsureReachableAsync(string advice, CancellationToken ct)
    {
        foreach (var target in _targets)
        {
            try
            {
                using var response = await target.GetAsync("/health/live", ct);
                EnsureSuccess(response, "GET /health/live");
            }
            catch (Exception ex) when (ex is HttpRequestException or ApiException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                throw new InvalidOperationException($"The service at {target.BaseAddress} does not answer /health/live ({ErrorReasons.Describe(ex)}). {advice}", ex);
            }
        }
    }

    /// <summary><c>POST /v1/auth/dev-token</c>: a bearer token for a user (Development only).</summary>
    public async Task<string> CreateDevTokenAsync(long userId, CancellationToken ct)
    {
        using var response = await Http.PostAsJsonAsync(
            "/v1/auth/dev-token", new { userId = userId.ToString(CultureInfo.InvariantCulture) }, Json, ct);
        EnsureSuccess(response, "POST /v1/auth/dev-token");
        var token = await response.Content.ReadFromJsonAsync<TokenResponse>(Json, ct);
        return token?.Token ?? throw new InvalidDataException("The dev-token response has no token.");
    }

    /// <summary><c>GET /v1/feed?limit=</c>: the first page of the caller's home feed.</summary>
    public async Task<FeedPage> GetFeedAsync(string token, int limit, CancellationToken ct)
    {
        using var request = Authorized(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"/v1/feed?limit={limit}"), token);
        using var response = await Http.SendAsync(request, ct);
        EnsureSuccess(response, "GET /v1/feed");
        return await response.Content.ReadFromJsonAsync<FeedPage>(Json, ct)
            ?? throw new InvalidDataException("The feed response is empty.");
    }

    /// <summary>
    /// <c>GET /v1/feed?limit=</c> as a load generator sends it: the whole response is read and its
    /// shape checked, but its posts are not deserialized — the same client work as the trivial
    /// endpoint's, so a capacity comparison measures the service, not the driver's JSON parser
    /// (which shares the machine's cores).
    /// </summary>
    public async Task ReadFeedAsync(string token, int limit, CancellationToken ct)
    {
        using var request = Authorized(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"/v1/feed?limit={limit}"), token);
        using var response = await Http.SendAsync(request, ct);
        EnsureSuccess(response, "GET /v1/feed");
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        if (!body.AsSpan().StartsWith(FeedPageStart) || body[^1] != (byte)'}')
        {
            throw new InvalidDataException("The feed response is not a feed page.");
        }
    }

    private static ReadOnlySpan<byte> FeedPageStart => """{"items":["""u8;

    /// <summary><c>POST /v1/posts</c>, by default with an <c>Idempotency-Key</c>, as a careful client sends it.</summary>
    /// <returns>The new post's id.</returns>
    public async Task<long> CreatePostAsync(string token, string body, CancellationToken ct, bool idempotencyKey = true)
    {
        using var request = Authorized(HttpMethod.Post, "/v1/posts", token);
        if (idempotencyKey)
        {
            request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        }
        request.Content = JsonContent.Create(new { body }, options: Json);
        using var response = await Http.SendAsync(request, ct);
        EnsureSuccess(response, "POST /v1/posts");
        var post = await response.Content.ReadFromJsonAsync<FeedItem>(Json, ct)
            ?? throw new InvalidDataException("The post response is empty.");
        return post.PostId;
    }

    /// <summary><c>PUT /v1/users/me/following/{id}</c>.</summary>
    public Task FollowAsync(string token, long followeeId, CancellationToken ct) =>
        SendWithoutBodyAsync(HttpMethod.Put, followeeId, token, ct);

    /// <summary><c>DELETE /v1/users/me/following/{id}</c>.</summary>
    public Task UnfollowAsync(string token, long followeeId, CancellationToken ct) =>
        SendWithoutBodyAsync(HttpMethod.Delete, followeeId, token, ct);

    public void Dispose()
    {
        foreach (var target in _targets)
        {
            target.Dispose();
        }
    }

    private static SocketsHttpHandler Handler(int maxConnections) => new()
    {
        MaxConnectionsPerServer = maxConnections,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        UseProxy = false,
    };

    private async Task SendWithoutBodyAsync(HttpMethod method, long followeeId, string token, CancellationToken ct)
    {
        using var request = Authorized(method, string.Create(CultureInfo.InvariantCulture, $"/v1/users/me/following/{followeeId}"), token);
        using var response = await Http.SendAsync(request, ct);
        EnsureSuccess(response, $"{method} /v1/users/me/following/{{id}}");
    }

    private static HttpRequestMessage Authorized(HttpMethod method, string path, string token) =>
        new(method, path) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };

    private static void EnsureSuccess(HttpResponseMessage response, string endpoint)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new ApiException(response.StatusCode, endpoint);
        }
    }

    private sealed record TokenResponse(string Token);
}

/// <summary>A page of a home feed; only what the load tests look at.</summary>
public sealed record FeedPage(IReadOnlyList<FeedItem> Items, string? NextCursor);

/// <summary>A post in an API response; ids are JSON strings.</summary>
public sealed record FeedItem(string Id, string AuthorId)
{
    public long PostId => long.Parse(Id, CultureInfo.InvariantCulture);
}

/// <summary>The service answered with a status other than 2xx.</summary>
public sealed class ApiException(HttpStatusCode status, string endpoint)
    : Exception($"{endpoint} answered {(int)status} {status}.")
{
    public HttpStatusCode Status { get; } = status;
}
