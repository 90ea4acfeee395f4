using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Targets;

/// <summary>
/// The yardsticks the targets are ratios to, run with the stock tools on the same Postgres and Redis
/// as the service: <c>pgbench</c> and <c>redis-benchmark</c>.
/// </summary>
public sealed partial class Baselines(NpgsqlDataSource postgres, IConnectionMultiplexer redis, string postgresConnection, string redisEndpoint) : IAsyncDisposable
{
    /// <summary>Copies of <c>posts</c> and <c>outbox</c> (columns, defaults, indexes, the author foreign key) for pgbench to insert into.</summary>
    private const string CreateBenchTablesSql = """
        DROP SCHEMA IF EXISTS feed_bench CASCADE;
        CREATE SCHEMA feed_bench;
        CREATE TABLE feed_bench.posts (LIKE public.posts INCLUDING ALL);
        ALTER TABLE feed_bench.posts ADD FOREIGN KEY (author_id) REFERENCES public.users (id) ON DELETE CASCADE;
        CREATE TABLE feed_bench.outbox (LIKE public.outbox INCLUDING ALL);
        """;

    private const string DropBenchTablesSql = "DROP SCHEMA IF EXISTS feed_bench CASCADE";

    /// <summary>Keys of the full-feed baselines: this many feeds, each already full.</summary>
    private const int FullKeys = 1_000;

    private const string ZaddPrefix = "tgt:zadd:";
    private const string FullPrefix = "tgt:full:";

    private readonly NpgsqlConnectionStringBuilder _pg = new(postgresConnection);
    private string? _script;
    private string? _luaSha;

    /// <summary>
    /// The service's post transaction in pgbench: BEGIN, INSERT the post (id from <c>feed_next_id()</c>),
    /// INSERT its outbox row, COMMIT; prepared statements, <paramref name="clients"/> connections.
    /// </summary>
    public async Task<PgBenchResult> PgBenchPostAsync(long authorId, int clients, TimeSpan duration, CancellationToken ct)
    {
        var output = await RunPgBenchAsync(authorId, clients, duration, [], ct);
        var tps = Number(TpsPattern().Match(output), "pgbench tps", output);
        var latency = Number(LatencyPattern().Match(output), "pgbench latency", output);
        return new PgBenchResult(tps, latency);
    }

    /// <summary>
    /// The same transaction at a fixed arrival rate (<c>pgbench -R</c>), each transaction's latency
    /// taken from its scheduled start, as the load driver measures a request from its intended send
    /// time: what the database alone takes at the rate the post latency target is measured at.
    /// </summary>
    public async Task<LatencySummary> PgBenchPostLatencyAsync(long authorId, int clients, double rate, TimeSpan duration, CancellationToken ct)
    {
        var logs = Directory.CreateTempSubdirectory("feed-pgbench-log-");
        try
        {
            await RunPgBenchAsync(authorId, clients, duration,
                ["-R", rate.ToString("0.#", CultureInfo.InvariantCulture), "-l", "--log-prefix", Path.Combine(logs.FullName, "tx")], ct);
            var histogram = Histograms.Create();
            foreach (var file in logs.EnumerateFiles("tx*"))
            {
                foreach (var line in await File.ReadAllLinesAsync(file.FullName, ct))
                {
                    // client_id transaction_no time script_no time_epoch time_us schedule_lag (microseconds)
                    var fields = line.Split(' ');
                    if (fields.Length >= 7 && long.TryParse(fields[2], CultureInfo.InvariantCulture, out var time) &&
                        long.TryParse(fields[6], CultureInfo.InvariantCulture, out var lag))
                    {
                        histogram.RecordValue(Math.Clamp(time + lag, 1, Histograms.HighestMicros));
                    }
                }
            }
            if (histogram.TotalCount == 0)
            {
                throw new InvalidOperationException("pgbench logged no transaction.");
            }
            return LatencySummary.From(histogram);
        }
        finally
        {
            logs.Delete(recursive: true);
        }
    }

    private async Task<string> RunPgBenchAsync(long authorId, int clients, TimeSpan duration, string[] extra, CancellationToken ct)
    {
        if (_script is null)
        {
            await using (var cmd = postgres.CreateCommand(CreateBenchTablesSql))
            {
                await cmd.ExecuteNonQueryAsync(ct);
            }
            _script = Path.Combine(Path.GetTempPath(), $"feed-pgbench-post-{Environment.ProcessId}.sql");
            await File.WriteAllTextAsync(_script, string.Create(CultureInfo.InvariantCulture, $"""
                BEGIN;
                INSERT INTO feed_bench.posts (author_id, body) VALUES ({authorId}, 'A post of a typical length for the benchmark, about eighty characters long.') RETURNING id \gset
                INSERT INTO feed_bench.outbox (kind, post_id, next_attempt_at) VALUES (1, :id, now() + interval '1 minute');
                COMMIT;

                """), ct);
        }
        return await RunAsync("pgbench",
            ["-h", _pg.Host!, "-p", _pg.Port.ToString(CultureInfo.InvariantCulture), "-U", _pg.Username!, "-n", "-M", "prepared",
             "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2",
             "-T", Math.Max(1, (int)Math.Round(duration.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
             .. extra, "-f", _script, _pg.Database!],
            new Dictionary<string, string> { ["PGPASSWORD"] = _pg.Password ?? "" }, ct);
    }

    /// <summary>
    /// redis-benchmark's pipelined ZADD (16 per pipeline) of random members into 10,000 random keys,
    /// starting from none: the stock yardstick of fan-out.
    /// </summary>
    public async Task<double> RedisZaddAsync(int clients, int requests, CancellationToken ct)
    {
        await DeleteKeysAsync(ZaddPrefix + "*");
        return await RedisBenchmarkAsync(clients, requests, 10_000, ["ZADD", ZaddPrefix + "__rand_int__", "__rand_int__", "__rand_int__"], ct);
    }

    /// <summary>
    /// The same pipelined ZADD, but into feeds of a production feed's shape: 1,000 keys that each
    /// already hold <paramref name="cap"/> ids and the sentinel (compact listpack encoding, as the
    /// service keeps them). <paramref name="requests"/> must stay under 1,000 × (1,024 − cap − 1) so
    /// that no set outgrows the listpack encoding during the run.
    /// </summary>
    public async Task<double> RedisZaddFullFeedsAsync(int cap, int clients, int requests, CancellationToken ct)
    {
        await FillFullFeedsAsync(FullPrefix, cap);
        return await RedisBenchmarkAsync(clients, requests, FullKeys, ["ZADD", FullPrefix + "__rand_int__", "__rand_int__", "__rand_int__"], ct);
    }

    /// <summary>
    /// The same full feeds, but each command is the service's own feed insert (the Lua script that adds
    /// to an existing feed and trims it back to the cap): the ceiling of the fan-out's Redis work.
    /// </summary>
    public async Task<double> RedisFeedInsertAsync(string addIfExistsScript, int cap, int clients, int requests, CancellationToken ct)
    {
        if (_luaSha is null)
        {
            var server = redis.GetServers().First(s => !s.IsReplica);
            _luaSha = Convert.ToHexStringLower(await server.ScriptLoadAsync(addIfExistsScript));
        }
        await FillFullFeedsAsync(FullPrefix, cap);
        return await RedisBenchmarkAsync(clients, requests, FullKeys,
            ["EVALSHA", _luaSha, "1", FullPrefix + "__rand_int__", cap.ToString(CultureInfo.InvariantCulture), "0", "__rand_int__"], ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_script is not null)
        {
            File.Delete(_script);
            await using var cmd = postgres.CreateCommand(DropBenchTablesSql);
            await cmd.ExecuteNonQueryAsync();
        }
        await DeleteKeysAsync(ZaddPrefix + "*");
        await DeleteKeysAsync(FullPrefix + "*");
    }

    /// <summary>(Re)creates the full feeds, named as redis-benchmark's <c>__rand_int__</c> names them (12 digits).</summary>
    private async Task FillFullFeedsAsync(string prefix, int cap)
    {
        var db = redis.GetDatabase();
        var full = Enumerable.Range(1, cap).Select(i => new SortedSetEntry(i, i)).Append(new SortedSetEntry("0", 0)).ToArray();
        for (var k = 0; k < FullKeys; k += 50)
        {
            await Task.WhenAll(Enumerable.Range(k, Math.Min(50, FullKeys - k)).Select(async i =>
            {
                var key = (RedisKey)(prefix + i.ToString("D12", CultureInfo.InvariantCulture));
                await db.KeyDeleteAsync(key);
                await db.SortedSetAddAsync(key, full);
            }));
        }
    }

    private async Task<double> RedisBenchmarkAsync(int clients, int requests, int keyspace, IReadOnlyList<string> command, CancellationToken ct)
    {
        var endpoint = redis.GetEndPoints().First();
        var (host, port) = endpoint switch
        {
            System.Net.DnsEndPoint dns => (dns.Host, dns.Port),
            System.Net.IPEndPoint ip => (ip.Address.ToString(), ip.Port),
            _ => throw new InvalidOperationException($"Cannot tell redis-benchmark where {redisEndpoint} is."),
        };
        var output = await RunAsync("redis-benchmark",
            ["-h", host, "-p", port.ToString(CultureInfo.InvariantCulture), "--dbnum", redis.GetDatabase().Database.ToString(CultureInfo.InvariantCulture),
             "-c", clients.ToString(CultureInfo.InvariantCulture),
             "-n", requests.ToString(CultureInfo.InvariantCulture), "-P", "16", "-r", keyspace.ToString(CultureInfo.InvariantCulture),
             "--csv", .. command],
            null, ct);
        // --csv: a header line, then "command","rps",...
        var row = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        var fields = row.Split("\",\"");
        if (fields.Length < 2 || !double.TryParse(fields[1].Trim('"'), NumberStyles.Float, CultureInfo.InvariantCulture, out var rps))
        {
            throw new InvalidOperationException($"Could not read redis-benchmark's rate from: {output}");
        }
        return rps;
    }

    private async Task DeleteKeysAsync(string pattern)
    {
        var db = redis.GetDatabase();
        foreach (var server in redis.GetServers().Where(s => !s.IsReplica && s.IsConnected))
        {
            var batch = new List<Task>();
            await foreach (var key in server.KeysAsync(db.Database, pattern, 1000))
            {
                batch.Add(db.KeyDeleteAsync(key, CommandFlags.FireAndForget));
            }
            await Task.WhenAll(batch);
        }
    }

    private static double Number(Match match, string what, string output) =>
        match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"Could not read the {what} from: {output}");

    private static async Task<string> RunAsync(string program, IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        var output = await stdout + await stderr;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} exited with {process.ExitCode}: {output}");
        }
        return output;
    }

    [GeneratedRegex(@"tps = ([0-9.]+)")]
    private static partial Regex TpsPattern();

    [GeneratedRegex(@"latency average = ([0-9.]+) ms")]
    private static partial Regex LatencyPattern();
}

/// <summary>pgbench's transactions per second and mean latency (ms).</summary>
public sealed record PgBenchResult(double Tps, double LatencyMs);
