using System.Diagnostics;
using System.Globalization;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;
using Npgsql;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// How many feed inserts per second the fan-out workers sustain. Authors with about
/// <see cref="RunSettings.FanOutFollowers"/> followers publish <see cref="RunSettings.FanOutPosts"/>
/// posts at <see cref="RunSettings.FanOutRate"/>; every post means one insert per active follower.
/// The clock runs from the first post until the outbox rows of this run are all complete
/// (<c>completed_at IS NOT NULL</c>), sampled every <see cref="SampleInterval"/>.
/// </summary>
public sealed class FanOutCapacityScenario : Scenario
{
    /// <summary>Posts per author, below the service's default write burst (30), so the rate limiter never answers.</summary>
    public const int PostsPerAuthor = 20;

    /// <summary>The service's default <c>FanOut:InactiveAfter</c>: followers idle for longer are skipped by fan-out.</summary>
    public static readonly TimeSpan ActiveWithin = TimeSpan.FromDays(14);

    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(100);

    private const string AuthorsSql = """
        SELECT id, follower_count FROM users WHERE NOT merge_timeline AND follower_count > 0
        ORDER BY abs(follower_count - $1), id LIMIT $2
        """;

    private const string ActiveFollowersSql = """
        SELECT f.followee_id, f.follower_id FROM follows f JOIN users u ON u.id = f.follower_id
        WHERE f.followee_id = ANY($1) AND u.last_feed_read_at >= now() - $2
        """;

    private const string LastOutboxIdSql = "SELECT coalesce(max(id), 0) FROM outbox";
    // See BacklogSettler for the next_attempt_at condition.
    private const string OpenOutboxSql = "SELECT count(*) FROM outbox WHERE completed_at IS NULL AND next_attempt_at IS NOT NULL AND id > $1";

    private readonly FanOutLagProbe _probe;
    private readonly Step _post;
    private readonly List<ChartPoint> _openRows = [];
    private readonly TaskCompletionSource<long> _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopSampling = new();
    private Account[] _authors = [];
    private Dictionary<long, int> _activeFollowers = [];
    private long _warmFollowers;
    private long _outboxBaseline;
    private LoadWindow? _window;
    private Task? _sampling;
    private int _nextAuthor = -1;
    private long _accepted;
    private long _inserts;
    private long _lastAcceptedAt;
    private volatile bool _loadFinished;

    public FanOutCapacityScenario(ScenarioContext context)
        : base(context)
    {
        _probe = new FanOutLagProbe(context, Name);
        _post = PostStep.Create(context, NextAuthor, _probe, Accepted);
        Steps = [_post];
    }

    public override string Name => "fanout-capacity";

    public override string Description =>
        "Authors with about the configured number of followers publish a burst of posts; the clock runs from the first post " +
        "until the outbox has drained. Feed inserts are posts × active followers. Always the open model, no warm-up.";

    public override IReadOnlyList<Step> Steps { get; }

    public override LoadProfile Profile =>
        new(new OpenModel(Settings.FanOutRate), TimeSpan.Zero, TimeSpan.FromSeconds(Settings.FanOutPosts / Settings.FanOutRate));

    public override async Task PrepareAsync(CancellationToken ct)
    {
        var authorCount = (Settings.FanOutPosts + PostsPerAuthor - 1) / PostsPerAuthor;
        await using (var cmd = Context.Postgres.CreateCommand(AuthorsSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Settings.FanOutFollowers });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = authorCount });
            var authors = new List<Account>();
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                authors.Add(new Account(reader.GetInt64(0), reader.GetInt32(1)));
            }
            _authors = [.. authors];
        }
        if (_authors.Length == 0)
        {
            throw new ScenarioSkippedException("no ordinary author has followers");
        }

        var followers = new List<long>();
        _activeFollowers = _authors.ToDictionary(a => a.Id, _ => 0);
        await using (var cmd = Context.Postgres.CreateCommand(ActiveFollowersSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. _authors.Select(a => a.Id)] });
            cmd.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = ActiveWithin });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                _activeFollowers[reader.GetInt64(0)]++;
                followers.Add(reader.GetInt64(1));
            }
        }
        _warmFollowers = await CountStoredFeedsAsync(followers);

        await using (var cmd = Context.Postgres.CreateCommand(LastOutboxIdSql))
        {
            _outboxBaseline = (long)(await cmd.ExecuteScalarAsync(ct))!;
        }
        await Context.Tokens.FetchAsync(_authors.Select(a => a.Id), ScenarioContext.TokenConcurrency, ct);
        await _probe.PrepareAsync([.. _authors.Select(a => a.Id)], ct);
    }

    public override Step NextStep(TimeSpan elapsed) => _post;

    public override void OnStarted(LoadWindow window)
    {
        _window = window;
        _probe.Start(window);
        _sampling = SampleOutboxAsync(window, _stopSampling.Token);
    }

    public override string? ProgressNote()
    {
        lock (_openRows)
        {
            var open = _openRows.Count > 0 ? _openRows[^1].Y : 0;
            return $"{Format.Count(Interlocked.Read(ref _inserts))} inserts queued | open outbox rows {open:#,0} | {_probe.ProgressNote() ?? "no lag sample yet"}";
        }
    }

    public override async Task<ScenarioFindings> FinishAsync(CancellationToken ct)
    {
        var window = _window!;
        _loadFinished = true;
        Context.Console.WriteLine($"[{Name}] waiting for the outbox to drain (at most {Settings.DrainTimeout.TotalSeconds:0} s)");
        long? drainedAt;
        try
        {
            drainedAt = await _drained.Task.WaitAsync(Settings.DrainTimeout, ct);
        }
        catch (TimeoutException)
        {
            drainedAt = null;
        }
        await _stopSampling.CancelAsync();
        await _sampling!;
        var (lagRow, lagNote) = await _probe.StopAsync(ct);

        var accepted = Interlocked.Read(ref _accepted);
        var inserts = Interlocked.Read(ref _inserts);
        var totalFollowers = _activeFollowers.Values.Sum();
        double peak;
        lock (_openRows)
        {
            peak = _openRows.Count == 0 ? 0 : _openRows.Max(p => p.Y);
        }
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"{Format.Count(accepted)} posts accepted from {_authors.Length} authors with {_authors.Min(a => a.Followers):#,0}–{_authors.Max(a => a.Followers):#,0} followers (target {Settings.FanOutFollowers:#,0}); {Format.Count(inserts)} feed inserts (posts × active followers). {(totalFollowers == 0 ? 0 : 100.0 * _warmFollowers / totalFollowers):0.#} % of those followers had a stored feed; pushes to the others are skipped in Redis."),
            $"Peak open outbox rows of this run: {peak:#,0}.",
        };
        if (drainedAt is { } drained && accepted > 0)
        {
            var seconds = window.Elapsed(drained).TotalSeconds;
            var afterLast = Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastAcceptedAt), drained).TotalSeconds;
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"**Sustained fan-out: {inserts / seconds:#,0} feed inserts/s** ({accepted / seconds:0.#} posts/s): the outbox drained {seconds:0.0} s after the first post was due, {afterLast:0.0} s after the last 201."));
            if (afterLast < 1)
            {
                notes.Add("The workers kept up with the publishing rate, so this is a lower bound: raise --fanout-rate or --fanout-posts to find the limit.");
            }
        }
        else
        {
            notes.Add($"The outbox did **not** drain within {Settings.DrainTimeout.TotalSeconds:0} s of the end of publishing; no capacity figure.");
        }
        notes.Add(lagNote);
        return new ScenarioFindings([lagRow], notes, [], [OutboxChart()]);
    }

    private long NextAuthor() => _authors[(int)((uint)Interlocked.Increment(ref _nextAuthor) % _authors.Length)].Id;

    private void Accepted(long author)
    {
        Interlocked.Increment(ref _accepted);
        Interlocked.Add(ref _inserts, _activeFollowers[author]);
        Interlocked.Exchange(ref _lastAcceptedAt, Stopwatch.GetTimestamp());
    }

    /// <summary>Samples this run's open outbox rows until stopped; reports the first empty sample after the load finished.</summary>
    private async Task SampleOutboxAsync(LoadWindow window, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(SampleInterval);
        try
        {
            do
            {
                await using var cmd = Context.Postgres.CreateCommand(OpenOutboxSql);
                cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _outboxBaseline });
                var open = (long)(await cmd.ExecuteScalarAsync(ct))!;
                var now = Stopwatch.GetTimestamp();
                lock (_openRows)
                {
                    _openRows.Add(new ChartPoint(window.Elapsed(now).TotalSeconds, open));
                }
                if (open == 0 && _loadFinished)
                {
                    _drained.TrySetResult(now);
                }
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task<long> CountStoredFeedsAsync(IReadOnlyList<long> userIds)
    {
        var db = Context.Redis.GetDatabase();
        var batch = db.CreateBatch();
        var checks = userIds.Select(id => batch.KeyExistsAsync(RedisKeys.Feed(id))).ToArray();
        batch.Execute();
        var exists = await Task.WhenAll(checks);
        return exists.LongCount(e => e);
    }

    private Chart OutboxChart()
    {
        lock (_openRows)
        {
            return new Chart(
                "outbox",
                "fanout-capacity: open outbox rows of this run",
                "seconds since the first post was due",
                "open outbox rows",
                LogScale: false,
                [new ChartSeries("open rows", "#9467bd", [.. _openRows])],
                []);
        }
    }
}
