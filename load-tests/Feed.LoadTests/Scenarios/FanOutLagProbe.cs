using System.Diagnostics;
using System.Globalization;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;
using HdrHistogram;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// Fan-out lag: the time from a post's <c>201 Created</c> until the post id is in a follower's
/// stored feed (<c>ZSCORE feed:{followerId} postId</c> in the service's Redis). A sample of posts
/// (<see cref="RunSettings.LagProbesPerSecond"/>) is followed into a few followers' feeds each,
/// with pipelined batches: every <see cref="PollInterval"/> at first, then every 5 % of the
/// sample's age up to <see cref="MaxPollInterval"/>, which bounds the resolution.
/// Followers without a stored feed are left out: fan-out never creates a feed, it only adds to
/// existing ones, and the next read rebuilds a missing one from Postgres.
/// </summary>
public sealed class FanOutLagProbe(ScenarioContext context, string scenario)
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>A sample is polled every 5 % of its age, within these bounds, so a backlog of slow samples does not flood Redis.</summary>
    public static readonly TimeSpan MaxPollInterval = TimeSpan.FromMilliseconds(250);

    private const string SampleFollowersSql = """
        SELECT followee_id, follower_id FROM (
            SELECT followee_id, follower_id, row_number() OVER (PARTITION BY followee_id ORDER BY random()) AS n
            FROM follows WHERE followee_id = ANY($1)) sampled
        WHERE n <= $2
        """;

    private readonly IDatabase _db = context.Redis.GetDatabase();
    private readonly RunSettings _settings = context.Settings;
    private readonly Lock _gate = new();
    private readonly List<Sample> _pending = [];
    private readonly LongHistogram _lag = Histograms.Create();
    private readonly CancellationTokenSource _stop = new();
    private Dictionary<long, long[]> _followers = [];
    private LoadWindow? _window;
    private Task? _loop;
    private long _second = -1;
    private int _startedThisSecond;
    private long _posts;
    private long _timedOut;
    private long _withoutFeed;
    private long _failedPolls;
    private string? _firstPollFailure;

    /// <summary>Picks the followers to watch for each author who may post.</summary>
    public async Task PrepareAsync(IReadOnlyCollection<long> authors, CancellationToken ct)
    {
        await using var cmd = context.Postgres.CreateCommand(SampleFollowersSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. authors] });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _settings.LagFollowers });
        var followers = new Dictionary<long, List<long>>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var author = reader.GetInt64(0);
            if (!followers.TryGetValue(author, out var list))
            {
                followers[author] = list = [];
            }
            list.Add(reader.GetInt64(1));
        }
        _followers = followers.ToDictionary(f => f.Key, f => f.Value.ToArray());
    }

    /// <summary>Starts polling; only posts accepted in the measured window are followed.</summary>
    public void Start(LoadWindow window)
    {
        _window = window;
        _loop = Task.Run(() => PollAsync(_stop.Token));
    }

    /// <summary>Follows a post if this second's budget allows.</summary>
    /// <param name="acceptedAt">When its 201 arrived (<see cref="Stopwatch"/> timestamp).</param>
    public void Track(long authorId, long postId, long acceptedAt)
    {
        if (_window is not { } window || !window.IsMeasured(acceptedAt) || !_followers.TryGetValue(authorId, out var followers))
        {
            return;
        }
        var second = (long)window.Elapsed(acceptedAt).TotalSeconds;
        lock (_gate)
        {
            if (second != _second)
            {
                (_second, _startedThisSecond) = (second, 0);
            }
            if (_startedThisSecond >= _settings.LagProbesPerSecond)
            {
                return;
            }
            _startedThisSecond++;
            _posts++;
            _pending.AddRange(followers.Select(f => new Sample(postId, f, acceptedAt)));
        }
    }

    public string? ProgressNote()
    {
        lock (_gate)
        {
            return _lag.TotalCount == 0 && _pending.Count == 0
                ? null
                : $"fan-out lag p99 {Format.Ms(_lag.TotalCount == 0 ? double.NaN : Histograms.Milliseconds(_lag.GetValueAtPercentile(99)))} ({_lag.TotalCount} seen, {_pending.Count} waiting)";
        }
    }

    private int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Waits until every followed post has arrived or timed out, then reports.</summary>
    public async Task<(ResultRow Row, string Note)> StopAsync(CancellationToken ct)
    {
        if (PendingCount is > 0 and var pending)
        {
            context.Console.WriteLine($"[{scenario}] waiting for {pending} fan-out lag samples to arrive (at most {_settings.LagTimeout.TotalSeconds:0} s each)");
        }
        while (_loop is { IsCompleted: false } && PendingCount > 0)
        {
            await Task.Delay(PollInterval * 4, ct);
        }
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }
        var failures = new Dictionary<string, long>();
        if (_timedOut > 0)
        {
            failures[$"not in the feed after {_settings.LagTimeout.TotalSeconds:0} s"] = _timedOut;
        }
        var row = new ResultRow("fan-out lag", _lag.TotalCount + _timedOut, null, failures, LatencySummary.From(_lag));
        var note = string.Create(CultureInfo.InvariantCulture,
            $"Fan-out lag: {Format.Count(_posts)} posts followed (at most {_settings.LagProbesPerSecond:0.#}/s) into up to {_settings.LagFollowers} followers' feeds each, polled every {PollInterval.TotalMilliseconds:0} ms at first, then every 5 % of their age (at most {MaxPollInterval.TotalMilliseconds:0} ms); {Format.Count(_withoutFeed)} watched followers had no stored feed and were left out.");
        if (_failedPolls > 0)
        {
            note += $" {Format.Count(_failedPolls)} polls failed and were retried (first: {_firstPollFailure}).";
        }
        return (row, note);
    }

    private async Task PollAsync(CancellationToken ct)
    {
        while (true)
        {
            try
            {
                await Task.Delay(PollInterval, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = Stopwatch.GetTimestamp();
            Sample[] due;
            lock (_gate)
            {
                due = [.. _pending.Where(s => s.NextPollAt <= now)];
            }
            if (due.Length == 0)
            {
                continue;
            }
            var pipeline = _db.CreateBatch();
            var scores = due.Select(s => pipeline.SortedSetScoreAsync(RedisKeys.Feed(s.FollowerId), s.PostId)).ToArray();
            var exists = due.Select(s => s.FeedChecked ? null : pipeline.KeyExistsAsync(RedisKeys.Feed(s.FollowerId))).ToArray();
            pipeline.Execute();
            try
            {
                await Task.WhenAll(scores.Concat<Task>(exists.OfType<Task<bool>>()));
            }
            catch (RedisException ex)
            {
                // A failed poll is retried on the next round; the samples keep their clocks running.
                lock (_gate)
                {
                    _failedPolls++;
                    _firstPollFailure ??= ex.Message;
                }
                continue;
            }
            var answeredAt = Stopwatch.GetTimestamp();
            lock (_gate)
            {
                for (var i = 0; i < due.Length; i++)
                {
                    var sample = due[i];
                    var age = Stopwatch.GetElapsedTime(sample.AcceptedAt, answeredAt);
                    if (scores[i].Result.HasValue)
                    {
                        _lag.RecordValue(Histograms.Micros(answeredAt - sample.AcceptedAt));
                        sample.Done = true;
                    }
                    else if (exists[i] is { Result: false })
                    {
                        _withoutFeed++;
                        sample.Done = true;
                    }
                    else if (age > _settings.LagTimeout)
                    {
                        _timedOut++;
                        sample.Done = true;
                    }
                    else
                    {
                        sample.FeedChecked = true;
                        var wait = TimeSpan.FromTicks(Math.Clamp(age.Ticks / 20, PollInterval.Ticks, MaxPollInterval.Ticks));
                        sample.NextPollAt = answeredAt + (long)(wait.TotalSeconds * Stopwatch.Frequency);
                    }
                }
                _pending.RemoveAll(s => s.Done);
            }
        }
    }

    private sealed class Sample(long postId, long followerId, long acceptedAt)
    {
        public long PostId { get; } = postId;

        public long FollowerId { get; } = followerId;

        public long AcceptedAt { get; } = acceptedAt;

        /// <summary>The follower's feed was seen to exist (checked once, on the first poll).</summary>
        public bool FeedChecked { get; set; }

        /// <summary>When to look again (<see cref="Stopwatch"/> timestamp).</summary>
        public long NextPollAt { get; set; }

        public bool Done { get; set; }
    }
}
