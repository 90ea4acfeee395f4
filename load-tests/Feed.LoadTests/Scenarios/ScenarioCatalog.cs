namespace Feed.LoadTests.Scenarios;

/// <summary>The scenarios by name, in the order of the standard set.</summary>
public static class ScenarioCatalog
{
    public static readonly IReadOnlyList<string> Standard = ["trivial", "read-mix", "post-storm", "celebrity", "fanout-capacity"];

    public static string Help => """
          trivial                 GET /health/live: the baseline for every other figure
          read-mix                90 % feed reads, 8 % posts, 2 % follow/unfollow; fan-out lag
          post-storm              posts only (--post-rate); fan-out lag
          celebrity               the top celebrity posts during heavy reads by its followers
          fanout-capacity         feed inserts/s the workers sustain until the outbox drains
        """;

    public static Scenario Create(string name, ScenarioContext context) => name switch
    {
        "trivial" => new TrivialScenario(context),
        "read-mix" => new ReadMixScenario(context),
        "post-storm" => new PostStormScenario(context),
        "celebrity" => new CelebrityScenario(context),
        "fanout-capacity" => new FanOutCapacityScenario(context),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Unknown scenario."),
    };
}
