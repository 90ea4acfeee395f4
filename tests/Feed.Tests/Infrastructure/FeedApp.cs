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

    private static readonly string PostgresAdmin = Environment.GetEnvironmentVariable("FEED_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Port=55432;Username=feed;Password=feed;Database=postgres";

    private static readonly string RedisConfiguration = Environment.GetEnvironmentVariable("FEED_TEST_REDIS")
        ?? "127.0.0.1:56379,defaultDatabase=1";

    private readonly string _database = $"feed_test_{Guid.NewGuid():N}"[..24];

    public string ConnectionString { get; private set; } = "";

    public NpgsqlDataSource Postgres { get; private set; } = null!;

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
        ["ConnectionStrings:Postgres"] = ConnectionString,
        ["Redis:Configuration"] = RedisConfiguration,
        ["Auth:SigningKey"] = SigningKey,
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
        await Postgres.DisposeAsync();
        await RedisAdmin.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(PostgresAdmin);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>Loses everything in Redis: feeds, timelines, the post cache and Hangfire's queues.</summary>
    public Task FlushRedisAsync() => RedisAdmin.GetServers()[0].FlushDatabaseAsync(RedisAdmin.GetDatabase().Database);

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
}

[CollectionDefinition(Name)]
public sealed class AppCollection : ICollectionFixture<FeedApp>
{
    public const string Name = "app";
}

public sealed record TestUser(long Id, string Handle, HttpClient Client);

public sealed record UserDto(string Id, string Handle, string DisplayName, int FollowerCount, int FollowingCount, bool IsCelebrity);

public sealed record TokenDto(string Token);

public sealed record PostDto(string Id, string AuthorId, string Body, DateTimeOffset CreatedAt);

public sealed record PageDto(List<PostDto> Items, string? NextCursor);
