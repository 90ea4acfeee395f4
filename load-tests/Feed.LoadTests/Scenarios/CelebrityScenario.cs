using System.Diagnostics;
using System.Globalization;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;
using Npgsql;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// The most followed celebrity posts once, a third of the way into heavy home-feed reads by its
/// followers. Read latency is reported per third (before, during: the third that starts with the
/// post, after), and every read sent after the post's 201 is checked for the post: a celebrity's
/// posts are merged into readers' feeds at read time, so each such read should show it.
/// </summary>
public sealed class CelebrityScenario : Scenario
{
    private const string SampleFollowersSql = "SELECT follower_id FROM follows WHERE followee_id = $1 ORDER BY random() LIMIT $2";
    private const string DeliverySql = "SELECT delivery FROM posts WHERE id = $1";

    private readonly Step _before;
    private readonly Step _during;
    private readonly Step _after;
    private readonly Lock _gate = new();
    private Account? _celebrity;
    private long[] _readers = [];
    private LoadWindow? _window;
    private Task? _posting;
    private long _postId;
    private long _postSentAt;
    private long _postAcceptedAt;
    private string? _postFailure;
    private long _readsAfterPost;
    private long _readsShowingPost;
    private long _firstShownAt = long.MaxValue;

    public CelebrityScenario(ScenarioContext context)
        : base(context)
    {
        _before = new Step("read before", ReadAsync);
        _during = new Step("read during", ReadAsync);
        _after = new Step("read after", ReadAsync);
        Steps = [_before, _during, _after];
    }

    public override string Name => "celebrity";

    public override string Description =>
        "Home-feed reads by followers of the most followed celebrity; one third of the way in, the celebrity posts once. " +
        "Read latency before, during (the third that starts with the post) and after; whether reads sent after the post's 201 show it.";

    public override IReadOnlyList<Step> Steps { get; }

    private TimeSpan Third => Settings.Duration / 3;

    public override async Task PrepareAsync(CancellationToken ct)
    {
        _celebrity = Context.Population.Celebrities.FirstOrDefault()
            ?? throw new ScenarioSkippedException("the seeded graph has no celebrity (seed with --celebrities 1 or more)");
        await using (var cmd = Context.Postgres.CreateCommand(SampleFollowersSql))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _celebrity.Id });
            cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Settings.ActiveUsers });
            var readers = new List<long>();
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                readers.Add(reader.GetInt64(0));
            }
            _readers = [.. readers];
        }
        if (_readers.Length == 0)
        {
            throw new ScenarioSkippedException($"celebrity {_celebrity.Id} has no followers");
        }
        await Context.Tokens.FetchAsync([_celebrity.Id, .. _readers], ScenarioContext.TokenConcurrency, ct);
    }

    public override Step NextStep(TimeSpan elapsed) => elapsed < Third ? _before : elapsed < 2 * Third ? _during : _after;

    public override TimeSpan ActiveTime(Step step, TimeSpan measured) => measured / 3;

    public override void OnStarted(LoadWindow window)
    {
        _window = window;
        _posting = PostAtAsync(window.At(Third));
    }

    public override string? ProgressNote()
    {
        var after = Interlocked.Read(ref _readsAfterPost);
        return after == 0 ? null : $"{Interlocked.Read(ref _readsShowingPost)}/{after} reads after the post show it";
    }

    public override async Task<ScenarioFindings> FinishAsync(CancellationToken ct)
    {
        var window = _window!;
        var celebrity = _celebrity!;
        await _posting!;
        var postedAt = window.Elapsed(_postSentAt).TotalSeconds;
        var marker = new ChartMarker(postedAt, "celebrity posts");
        if (_postFailure is not null)
        {
            return new ScenarioFindings([], [$"The celebrity's post failed ({_postFailure}), so there was nothing to see."], [marker], []);
        }
        var readsAfter = Interlocked.Read(ref _readsAfterPost);
        var showing = Interlocked.Read(ref _readsShowingPost);
        var notes = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture,
                $"Celebrity {celebrity.Id} ({Format.Count(celebrity.Followers)} followers) posted {postedAt:0.0} s into the measurement; the POST took {Format.Ms(Stopwatch.GetElapsedTime(_postSentAt, _postAcceptedAt).TotalMilliseconds)}. Readers: {Format.Count(_readers.Length)} of its followers."),
            $"Delivery chosen by the fan-out job: {await DeliveryAsync(ct)}.",
            readsAfter == 0
                ? "No read was sent after the post's 201."
                : string.Create(CultureInfo.InvariantCulture,
                    $"{Format.Count(showing)} of {Format.Count(readsAfter)} follower reads sent after the 201 showed the post ({100.0 * showing / readsAfter:0.##} %)."),
        };
        if (showing > 0)
        {
            notes.Add($"The first read showing it returned {Format.Ms(Stopwatch.GetElapsedTime(_postAcceptedAt, _firstShownAt).TotalMilliseconds)} after the 201.");
        }
        return new ScenarioFindings([], notes, [marker], []);
    }

    private async Task PostAtAsync(long due)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
        _postSentAt = Stopwatch.GetTimestamp();
        try
        {
            var postId = await Context.Api.CreatePostAsync(Context.Tokens.For(_celebrity!.Id), PostText.Next(Random.Shared), CancellationToken.None);
            Volatile.Write(ref _postId, postId);
            Volatile.Write(ref _postAcceptedAt, Stopwatch.GetTimestamp());
        }
        catch (Exception ex)
        {
            _postFailure = ErrorReasons.Describe(ex);
        }
    }

    private async Task ReadAsync(CancellationToken ct)
    {
        var sentAt = Stopwatch.GetTimestamp();
        var acceptedAt = Volatile.Read(ref _postAcceptedAt);
        var page = await Context.Api.GetFeedAsync(Context.Tokens.For(ScenarioContext.Pick(_readers)), Settings.FeedLimit, ct);
        if (acceptedAt == 0 || sentAt < acceptedAt)
        {
            return;
        }
        Interlocked.Increment(ref _readsAfterPost);
        var postId = Volatile.Read(ref _postId);
        if (page.Items.Any(item => item.PostId == postId))
        {
            Interlocked.Increment(ref _readsShowingPost);
            var now = Stopwatch.GetTimestamp();
            lock (_gate)
            {
                _firstShownAt = Math.Min(_firstShownAt, now);
            }
        }
    }

    /// <summary>The post's delivery as recorded by its fan-out job, waiting a few seconds for the job to run.</summary>
    private async Task<string> DeliveryAsync(CancellationToken ct)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await using var cmd = Context.Postgres.CreateCommand(DeliverySql);
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _postId });
            var delivery = (short)(await cmd.ExecuteScalarAsync(ct))!;
            switch (delivery)
            {
                case 1:
                    return "**pushed** to every follower's feed (expected pulled: is the author still a celebrity?)";
                case 2:
                    return "pulled (merged into followers' feeds at read time, nothing pushed)";
            }
            await Task.Delay(100, ct);
        }
        return "still pending 5 s after the run (the fan-out job has not run)";
    }
}
