using System.Net.Http.Headers;
using System.Net.Http.Json;
using Feed.Infrastructure.Postgres;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// The real service (API and worker roles) against real Postgres and real Redis, started once
/// per test collection: a fresh database and a flushed Redis database for every run.
/// </summary>
public sealed class FeedApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    public const string SigningKey = "test-signing-key-0123456789-0123456789-abcdef";
    public const int CelebrityThreshold = 20;
    public const int CelebrityLowerMark = 12;
    public const int BatchSize = 5;
    public const int FollowBackfillCount = 100;
    public const int WritesPerMinute = 1200;
    public const int WriteBurst = 100;
    public const int MaxOpenOutbox = 5000;
    public const string DashboardUser = "operator";
    public const string DashboardPassword = "operator-password";
    public const int DigestTopPosts = 4;
    public const int DigestMaxPostsPerAuthor = 2;
    public const string PublicBaseUrl = "http://feed.test";

    /// <summary>Hangfire's "never" (February 31st): recurring jobs the tests run by hand.</summary>
    public const string NeverCron = "0 0 31 2 *";

    /// <summary>The SMTP port of the tests' maildev (started by scripts/test.sh).</summary>
    public static readonly int SmtpPort = int.Parse(Environment.GetEnvironmentVariable("FEED_TEST_SMTP_PORT") ?? "51025");

    /// <summary>Four attempts within about two seconds: the production schedule, compressed.</summary>
    public const string WebhookSchedule = "0s, 300ms, 600ms, 900ms";
    public const double WebhookJitter = 0.2;
    public const int WebhookCircuitBreakAfter = 10;
    public const int WebhookMaxConcurrent = 2;

    private static readonly string PostgresAdmin = Environment.GetEnvironmentVariable("FEED_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Port=55432;Username=feed;Password=feed;Database=postgres";

    private static readonly string RedisConfiguration = Environment.GetEnvironmentVariable("FEED_TEST_REDIS")
        ?? "127.0.0.1:56379,defaultDatabase=1";

    private readonly string _database = $"feed_test_{Guid.NewGuid():N}"[..24];

    public string ConnectionString { get; private set; } = "";

    /// <summary>What the app uses: the same database, through <see cref="PostgresProxy"/>.</summary>
    public string AppConnectionString { get; private set; } = "";

    public NpgsqlDataSource Postgres { get; private set; } = null!;

    /// <summary>The app reaches Postgres through this proxy, so a test can take Postgres away from it.</summary>
    public TcpFaultProxy PostgresProxy { get; private set; } = null!;

    /// <summary>Redis with admin commands allowed (FLUSHDB), on the app's database.</summary>
    public IConnectionMultiplexer RedisAdmin { get; private set; } = null!;

    public IConnectionMultiplexer Redis => Services.GetRequiredService<IConnectionMultiplexer>();

    public IDatabase RedisDb => Redis.GetDatabase();

    public async Task InitializeAsync()
    {
        await using (var admin = new NpgsqlConnection(PostgresAdmin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        ConnectionString = new NpgsqlConnectionStringBuilder(PostgresAdmin) { Database = _database, MaxPoolSize = 50 }.ConnectionString;
        Postgres = NpgsqlDataSource.Create(ConnectionString);
        var direct = new NpgsqlConnectionStringBuilder(ConnectionString);
        PostgresProxy = new TcpFaultProxy(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(direct.Host!), direct.Port));
        AppConnectionString = new NpgsqlConnectionStringBuilder(ConnectionString) { Port = PostgresProxy.Port }.ConnectionString;

        RedisAdmin = await ConnectionMultiplexer.ConnectAsync(RedisConfiguration + ",allowAdmin=true");
        await FlushRedisAsync();
        // Environment variables reach the app's builder before Program.cs reads its configuration.
        foreach (var (key, value) in Settings())
        {
            Environment.SetEnvironmentVariable(key.Replace(":", "__"), value);
        }
        // Migrate before the host starts, so its background services never see a half-made schema.
        var schema = new DbContextOptionsBuilder<FeedDbContext>().UseNpgsql(ConnectionString).UseSnakeCaseNamingConvention().Options;
        await using (var db = new FeedDbContext(schema))
        {
            await db.Database.MigrateAsync();
        }
        // A real Kestrel server on a free loopback port: real HTTP limits, and a browser can reach it.
        UseKestrel(0);
        StartServer();
    }

    /// <summary>Every log line the app writes, checked for secrets.</summary>
    public SecretLogScanner LogScanner { get; } = new(SigningKey, DashboardPassword, "viewer-password");

    /// <summary>Spans of the traces a test watches, exported in memory.</summary>
    public TraceRecorder Traces { get; } = new();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.ConfigureServices(services => services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(Traces)));
        builder.ConfigureLogging(logging => logging.AddProvider(LogScanner).AddFilter<SecretLogScanner>(null, LogLevel.Debug));
    }

    private Dictionary<string, string> Settings() => new()
    {
        ["ConnectionStrings:Postgres"] = AppConnectionString,
        ["Redis:Configuration"] = RedisConfiguration,
        ["Auth:SigningKey"] = SigningKey,
        // The tests record spans with an in-memory exporter (production makes spans only for an OTLP endpoint).
        ["Telemetry:Tracing"] = "true",
        ["Auth:EnableDevTokens"] = "true",
        ["FanOut:CelebrityThreshold"] = CelebrityThreshold.ToString(),
        ["FanOut:CelebrityLowerMark"] = CelebrityLowerMark.ToString(),
        ["FanOut:BatchSize"] = BatchSize.ToString(),
        ["Outbox:RelayInterval"] = "00:00:00.500",
        ["Outbox:RedeliverAfter"] = "00:00:05",
        ["FanOut:FollowBackfillCount"] = FollowBackfillCount.ToString(),
        ["Service:Workers:fanout"] = "8",
        ["Service:HeartbeatInterval"] = "00:00:02",
        ["Protection:WritesPerMinute"] = WritesPerMinute.ToString(),
        ["Protection:WriteBurst"] = WriteBurst.ToString(),
        ["Protection:MaxOpenOutbox"] = MaxOpenOutbox.ToString(),
        ["Protection:BacklogRefreshInterval"] = "00:00:00.200",
        ["Hangfire:DashboardUser"] = DashboardUser,
        ["Hangfire:DashboardPassword"] = DashboardPassword,
        ["Hangfire:ViewerUser"] = "viewer",
        ["Hangfire:ViewerPassword"] = "viewer-password",
        ["Webhooks:AllowHttp"] = "true",
        ["Webhooks:AllowedNetworks:0"] = "127.0.0.1/32",
        ["Webhooks:RetrySchedule"] = WebhookSchedule,
        ["Webhooks:RetryJitter"] = WebhookJitter.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Webhooks:Timeout"] = "00:00:03",
        ["Webhooks:CircuitBreakAfter"] = WebhookCircuitBreakAfter.ToString(),
        ["Webhooks:CircuitOpenFor"] = "00:00:02",
        ["Webhooks:CircuitOpenMax"] = "00:00:04",
        ["Webhooks:MaxConcurrentPerEndpoint"] = WebhookMaxConcurrent.ToString(),
        ["Webhooks:BusyRetryDelay"] = "00:00:00.200",
        ["Webhooks:RelayInterval"] = "00:00:00.500",
        ["Webhooks:RedeliverAfter"] = "00:00:03",
        ["Service:SchedulePollingInterval"] = "00:00:00.200",
        ["Logging:LogLevel:Default"] = "Warning",
        ["Digests:Smtp:Host"] = "127.0.0.1",
        ["Digests:Smtp:Port"] = SmtpPort.ToString(),
        ["Digests:Smtp:Security"] = "None",
        ["Digests:Smtp:Timeout"] = "00:00:10",
        ["Digests:PublicBaseUrl"] = PublicBaseUrl,
        ["Digests:TopPosts"] = DigestTopPosts.ToString(),
        ["Digests:MaxPostsPerAuthor"] = DigestMaxPostsPerAuthor.ToString(),
        ["Digests:ScheduleCron"] = NeverCron,
        ["Maintenance:SweepOutboxCron"] = NeverCron,
        ["Maintenance:TrimFeedsCron"] = NeverCron,
        ["Maintenance:RetentionCron"] = NeverCron,
    };

    async Task IAsyncLifetime.DisposeAsync()
    {
        await base.DisposeAsync();
        await PostgresProxy.DisposeAsync();
        await Postgres.DisposeAsync();
        await RedisAdmin.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await DropDatabaseAsync(PostgresAdmin, _database);
    }

    /// <summary>
    /// Drops a test database, ending its sessions. A session the test role may not end (an autovacuum
    /// worker busy in that database: 42501) or one still closing (55006) is waited out and the drop retried.
    /// </summary>
    internal static async Task DropDatabaseAsync(string adminConnectionString, string database)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var admin = new NpgsqlConnection(adminConnectionString);
                await admin.OpenAsync();
                await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", admin);
                await drop.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException ex) when (ex.SqlState is "42501" or "55006" && attempt < 20)
            {
                await Task.Delay(500);
            }
        }
    }

    /// <summary>Whether the tests run against a Redis Cluster (<c>FEED_TEST_REDIS</c> listing its nodes).</summary>
    public bool IsRedisCluster => RedisAdmin.GetServers().Any(s => s.ServerType == ServerType.Cluster);

    /// <summary>Loses everything in Redis (on every primary of a cluster): feeds, timelines, the post cache and Hangfire's queues.</summary>
    public Task FlushRedisAsync() => Task.WhenAll(RedisAdmin.GetServers().Where(s => !s.IsReplica)
        .Select(s => s.FlushDatabaseAsync(RedisAdmin.GetDatabase().Database)));

    /// <summary>Creates a user and returns a client authenticated as them.</summary>
    public async Task<TestUser> CreateUserAsync(string? handlePrefix = null)
    {
        var anonymous = CreateClient();
        var handle = $"{handlePrefix ?? "u"}_{Guid.NewGuid():N}"[..20];
        var created = await anonymous.PostAsJsonAsync("/v1/users", new { handle, displayName = handle });
        created.EnsureSuccessStatusCode();
        var user = (await created.Content.ReadFromJsonAsync<UserDto>())!;
        var token = await anonymous.PostAsJsonAsync("/v1/auth/dev-token", new { userId = user.Id });
        token.EnsureSuccessStatusCode();
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        return new TestUser(long.Parse(user.Id), handle, client);
    }

    /// <summary>A client whose token carries the <c>admin</c> role.</summary>
    public async Task<HttpClient> CreateAdminClientAsync()
    {
        var admin = await CreateUserAsync("admin");
        var token = await admin.Client.PostAsJsonAsync("/v1/auth/dev-token", new { userId = admin.Id, roles = new[] { "admin" } });
        token.EnsureSuccessStatusCode();
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization =
            new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        return client;
    }

    /// <summary>Creates a partner (as an admin) and returns a client that sends its API key.</summary>
    public async Task<TestPartner> CreatePartnerAsync(string name = "partner")
    {
        var admin = await CreateAdminClientAsync();
        var created = await admin.PostAsJsonAsync("/v1/admin/partners", new { name });
        created.EnsureSuccessStatusCode();
        var partner = (await created.Content.ReadFromJsonAsync<PartnerKeyDto>())!;
        var client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", partner.ApiKey);
        return new TestPartner(long.Parse(partner.Id), partner.ApiKey, client);
    }

    /// <summary>Waits until every outbox row is done: all fan-out work enqueued so far has run.</summary>
    public async Task DrainAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await ScalarAsync<long>("SELECT count(*) FROM outbox WHERE completed_at IS NULL") == 0)
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Fan-out work did not drain in time.");
            }
            await Task.Delay(50);
        }
    }

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var cmd = Postgres.CreateCommand(sql);
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        }
        return (T)(await cmd.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql, params object[] parameters)
    {
        await using var cmd = Postgres.CreateCommand(sql);
        foreach (var p in parameters)
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        }
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// A post committed with its outbox row whose fan-out has not been enqueued, and will not be by
    /// the relay for an hour: the test runs the jobs itself.
    /// </summary>
    public async Task<(long PostId, long OutboxId)> InsertUnpublishedPostAsync(long authorId)
    {
        var postId = await ScalarAsync<long>("INSERT INTO posts (author_id, body) VALUES ($1, 'unpublished') RETURNING id", authorId);
        return (postId, await InsertOutboxRowAsync(1, postId));
    }

    /// <summary>Waits until <paramref name="count"/> statements of this database wait for a row lock.</summary>
    public async Task WaitForLockWaitersAsync(int count)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (await ScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") >= count)
            {
                return;
            }
            await Task.Delay(25);
        }
        Xunit.Assert.Fail($"{count} runs never waited for the post row.");
    }

    /// <summary>An outbox row of <paramref name="kind"/> for a post, left to the test for an hour (see <see cref="InsertUnpublishedPostAsync"/>).</summary>
    public Task<long> InsertOutboxRowAsync(short kind, long postId) => ScalarAsync<long>(
        "INSERT INTO outbox (kind, post_id, next_attempt_at) VALUES ($1, $2, now() + interval '1 hour') RETURNING id", kind, postId);
}

[CollectionDefinition(Name)]
public sealed class AppCollection : ICollectionFixture<FeedApp>
{
    public const string Name = "app";
}

public sealed record TestUser(long Id, string Handle, HttpClient Client);

public sealed record TestPartner(long Id, string ApiKey, HttpClient Client);

public sealed record PartnerKeyDto(string Id, string Name, string ApiKey);

public sealed record UserDto(string Id, string Handle, string DisplayName, int FollowerCount, int FollowingCount, bool IsCelebrity);

public sealed record TokenDto(string Token);

public sealed record PostDto(string Id, string AuthorId, string Body, DateTimeOffset CreatedAt);

public sealed record PageDto(List<PostDto> Items, string? NextCursor);
