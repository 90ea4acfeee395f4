using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Scenarios;

/// <summary>Posts only, by random active users, at <see cref="RunSettings.PostRate"/>; with fan-out lag.</summary>
public sealed class PostStormScenario : Scenario
{
    private readonly FanOutLagProbe _probe;
    private readonly Step _post;

    public PostStormScenario(ScenarioContext context)
        : base(context)
    {
        _probe = new FanOutLagProbe(context, Name);
        _post = PostStep.Create(context, () => ScenarioContext.Pick(context.ActiveUsers), _probe);
        Steps = [_post];
    }

    public override string Name => "post-storm";

    public override string Description =>
        "Only `POST /v1/posts`, by random active (non-celebrity) users: the write path (post, outbox row and idempotency key " +
        "in one transaction, then the enqueue) and, behind it, fan-out to each author's followers.";

    public override IReadOnlyList<Step> Steps { get; }

    public override LoadProfile Profile => Settings.ProfileFor(Settings.PostRate);

    public override async Task PrepareAsync(CancellationToken ct)
    {
        await Context.Tokens.FetchAsync(Context.ActiveUsers, ScenarioContext.TokenConcurrency, ct);
        await _probe.PrepareAsync(Context.ActiveUsers, ct);
    }

    public override Step NextStep(TimeSpan elapsed) => _post;

    public override void OnStarted(LoadWindow window) => _probe.Start(window);

    public override string? ProgressNote() => _probe.ProgressNote();

    public override async Task<ScenarioFindings> FinishAsync(CancellationToken ct)
    {
        var (row, note) = await _probe.StopAsync(ct);
        return new ScenarioFindings([row], [note], [], []);
    }
}
