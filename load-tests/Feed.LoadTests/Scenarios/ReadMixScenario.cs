using System.Collections.Concurrent;
using Feed.LoadTests.Driver;
using Npgsql;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// The everyday mix: 90 % home-feed reads, 8 % posts, 1 % follows and 1 % unfollows, by random
/// active users. Unfollows undo existing follows (sampled before the run, then the ones this run
/// made) and follows prefer to restore what was unfollowed, so the graph stays about the same.
/// </summary>
public sealed class ReadMixScenario : Scenario
{
    private const string SampleEdgesSql = """
        SELECT f.follower_id, f.followee_id FROM follows f JOIN users u ON u.id = f.followee_id
        WHERE f.follower_id = ANY($1) AND NOT u.merge_timeline
        ORDER BY random() LIMIT $2
        """;

    private readonly FanOutLagProbe _probe;
    private readonly StepMix _mix;
    private readonly ConcurrentQueue<(long Follower, long Followee)> _followed = new();
    private readonly ConcurrentQueue<(long Follower, long Followee)> _unfollowed = new();

    public ReadMixScenario(ScenarioContext context)
        : base(context)
    {
        _probe = new FanOutLagProbe(context, Name);
        var read = new Step("read feed", async ct =>
            await context.Api.ReadFeedAsync(context.Tokens.For(ScenarioContext.Pick(context.ActiveUsers)), context.Settings.FeedLimit, ct));
        var post = PostStep.Create(context, () => ScenarioContext.Pick(context.ActiveUsers), _probe);
        _mix = new StepMix(
            (read, 0.90),
            (post, 0.08),
            (new Step("follow", FollowAsync), 0.01),
            (new Step("unfollow", UnfollowAsync), 0.01));
    }

    public override string Name => "read-mix";

    public override string Description =>
        "90 % `GET /v1/feed`, 8 % `POST /v1/posts`, 1 % follow and 1 % unfollow, by random active users. " +
        "Unfollows undo existing follows and follows restore them, so the graph keeps its shape.";

    public override IReadOnlyList<Step> Steps => _mix.Steps;

    public override async Task PrepareAsync(CancellationToken ct)
    {
        await Context.Tokens.FetchAsync(Context.ActiveUsers, ScenarioContext.TokenConcurrency, ct);
        await _probe.PrepareAsync(Context.ActiveUsers, ct);
        await using var cmd = Context.Postgres.CreateCommand(SampleEdgesSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = Context.ActiveUsers });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Context.ActiveUsers.Length });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            _followed.Enqueue((reader.GetInt64(0), reader.GetInt64(1)));
        }
    }

    public override Step NextStep(TimeSpan elapsed) => _mix.Pick();

    public override void OnStarted(LoadWindow window) => _probe.Start(window);

    public override string? ProgressNote() => _probe.ProgressNote();

    public override async Task<ScenarioFindings> FinishAsync(CancellationToken ct)
    {
        var (row, note) = await _probe.StopAsync(ct);
        return new ScenarioFindings([row], [note], [], []);
    }

    private async Task FollowAsync(CancellationToken ct)
    {
        if (!_unfollowed.TryDequeue(out var edge))
        {
            var follower = ScenarioContext.Pick(Context.ActiveUsers);
            long followee;
            do
            {
                followee = ScenarioContext.Pick(Context.Population.Ordinary);
            }
            while (followee == follower);
            edge = (follower, followee);
        }
        await Context.Api.FollowAsync(Context.Tokens.For(edge.Follower), edge.Followee, ct);
        _followed.Enqueue(edge);
    }

    private async Task UnfollowAsync(CancellationToken ct)
    {
        if (!_followed.TryDequeue(out var edge))
        {
            throw new InvalidOperationException("no follow left to undo (raise --active-users)");
        }
        await Context.Api.UnfollowAsync(Context.Tokens.For(edge.Follower), edge.Followee, ct);
        _unfollowed.Enqueue(edge);
    }
}
