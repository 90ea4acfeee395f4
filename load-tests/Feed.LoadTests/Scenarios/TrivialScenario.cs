using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Scenarios;

/// <summary>The baseline: <c>GET /health/live</c> at the read scenarios' rate and connection settings.</summary>
public sealed class TrivialScenario : Scenario
{
    private readonly Step _health;

    public TrivialScenario(ScenarioContext context)
        : base(context)
    {
        _health = new Step("health", ct => context.Api.CheckLiveAsync(ct));
        Steps = [_health];
    }

    public override string Name => "trivial";

    public override string Description =>
        "`GET /health/live` (no database, no Redis) at the same rate and connection settings as the read scenarios: " +
        "what the machine, the driver, Kestrel and the middleware cost on their own. The baseline the performance targets compare against.";

    public override IReadOnlyList<Step> Steps { get; }

    public override Step NextStep(TimeSpan elapsed) => _health;
}
