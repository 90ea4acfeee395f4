using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// A deployment of the service made of separate OS processes (<see cref="ServiceProcess"/>) that
/// share one Postgres database and one Redis database, both its own: a fresh database migrated by
/// the service's own <c>migrate</c> command, and a Redis database number flushed before and after.
/// Processes it started are killed when it is disposed, and their output goes to the test's log.
/// </summary>
public sealed class ProcessDeployment : IAsyncDisposable
{
    private static readonly string PostgresAdmin = Environment.GetEnvironmentVariable("FEED_TEST_POSTGRES")
        ?? "Host=127.0.0.1;Port=55432;Username=feed;Password=feed;Database=postgres";

    private static readonly string RedisServer = Environment.GetEnvironmentVariable("FEED_TEST_REDIS") ?? "127.0.0.1:56379";

    private readonly string _database = $"feed_proc_{Guid.NewGuid():N}"[..24];
    private readonly List<ServiceProcess> _processes = [];
    private readonly ITestOutputHelper _log;
    private readonly Dictionary<string, string> _settings;

    private ProcessDeployment(int redisDatabase, IReadOnlyDictionary<string, string> settings, ITestOutputHelper log)
    {
        _log = log;
        ConnectionString = new NpgsqlConnectionStringBuilder(PostgresAdmin) { Database = _database, MaxPoolSize = 20 }.ConnectionString;
        var redis = ConfigurationOptions.Parse(RedisServer);
        redis.DefaultDatabase = redisDatabase;
        RedisConfiguration = redis.ToString();
        _settings = new Dictionary<string, string>
        {
            ["ConnectionStrings:Postgres"] = ConnectionString,
            ["Redis:Configuration"] = RedisConfiguration,
            ["Auth:SigningKey"] = FeedApp.SigningKey,
            ["Auth:EnableDevTokens"] = "true",
            ["Service:HeartbeatInterval"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings)
        {
            _settings[key] = value;
        }
        Postgres = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>The database every process of this deployment uses.</summary>
    public string ConnectionString { get; }

    /// <summary>StackExchange.Redis configuration of this deployment's Redis database.</summary>
    public string RedisConfiguration { get; }

    public NpgsqlDataSource Postgres { get; }

    /// <summary>The deployment's Redis database, with admin commands allowed.</summary>
    public IConnectionMultiplexer Redis { get; private set; } = null!;

    public IDatabase RedisDb => Redis.GetDatabase();

    /// <summary>
    /// Creates and migrates the database and flushes Redis database <paramref name="redisDatabase"/>
    /// (pick one no other test run uses). <paramref name="settings"/> apply to every process.
    /// </summary>
    public static async Task<ProcessDeployment> CreateAsync(int redisDatabase, IReadOnlyDictionary<string, string> settings, ITestOutputHelper log)
    {
        ServiceProcess.KillOrphans();
        var deployment = new ProcessDeployment(redisDatabase, settings, log);
        await using (var admin = new NpgsqlConnection(PostgresAdmin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {deployment._database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        deployment.Redis = await ConnectionMultiplexer.ConnectAsync(deployment.RedisConfiguration + ",allowAdmin=true");
        await deployment.FlushRedisAsync();
        var (exitCode, output) = await ServiceProcess.RunAsync(["migrate"], deployment._settings, TimeSpan.FromMinutes(2));
        Assert.True(exitCode == 0, $"migrate exited with {exitCode}:\n{output}");
        return deployment;
    }

    /// <summary>Starts a process of the service with this deployment's settings plus <paramref name="overrides"/>.</summary>
    public async Task<ServiceProcess> StartAsync(string name, IReadOnlyDictionary<string, string> overrides)
    {
        var settings = new Dictionary<string, string>(_settings);
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }
        var process = await ServiceProcess.StartAsync(name, settings);
        lock (_processes)
        {
            _processes.Add(process);
        }
        _log.WriteLine($"{name}: pid {process.Id} at {process.BaseAddress}");
        return process;
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

    /// <summary>Waits until every outbox row is done; returns how long that took.</summary>
    public async Task<TimeSpan> DrainAsync(TimeSpan timeout)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (await ScalarAsync<long>("SELECT count(*) FROM outbox WHERE completed_at IS NULL") > 0)
        {
            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"The outbox did not drain within {timeout}.");
            }
            await Task.Delay(100);
        }
        return waited.Elapsed;
    }

    public async ValueTask DisposeAsync()
    {
        // Every process first, whatever else fails: left running, they would work on the next test's data.
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
        foreach (var process in _processes)
        {
            _log.WriteLine($"--- {process.Name} (pid {process.Id}), last lines:\n{process.Output}");
        }
        await FlushRedisAsync();
        await Redis.DisposeAsync();
        await Postgres.DisposeAsync();
        NpgsqlConnection.ClearAllPools();
        await FeedApp.DropDatabaseAsync(PostgresAdmin, _database);
    }

    private Task FlushRedisAsync() => Redis.GetServers()[0].FlushDatabaseAsync(Redis.GetDatabase().Database);
}

/// <summary>
/// Tests that run the service as separate processes. They run alone, never beside the in-process
/// <see cref="FeedApp"/> tests: both would compete for the same two cores, and timing-sensitive
/// tests of either would suffer.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessesCollection
{
    public const string Name = "processes";
}
