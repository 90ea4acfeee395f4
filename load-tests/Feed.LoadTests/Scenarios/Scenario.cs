using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;

namespace Feed.LoadTests.Scenarios;

/// <summary>
/// A scenario (NBomber's term): named steps, the load profile that drives them, preparation before
/// the load (tokens, samples; not measured) and findings after it (fan-out lag, drain time…).
/// </summary>
public abstract class Scenario(ScenarioContext context) : IWorkload
{
    protected ScenarioContext Context { get; } = context;

    protected RunSettings Settings => Context.Settings;

    public abstract string Name { get; }

    public abstract string Description { get; }

    public abstract IReadOnlyList<Step> Steps { get; }

    public virtual LoadProfile Profile => Settings.ProfileFor(Settings.Rate);

    /// <summary>Gets everything the steps need. Throws <see cref="ScenarioSkippedException"/> when the data cannot support the scenario.</summary>
    public virtual Task PrepareAsync(CancellationToken ct) => Task.CompletedTask;

    public abstract Step NextStep(TimeSpan elapsed);

    /// <summary>How much of the measured time a step was eligible to run, for its throughput (all of it, unless steps take turns).</summary>
    public virtual TimeSpan ActiveTime(Step step, TimeSpan measured) => measured;

    public virtual void OnStarted(LoadWindow window)
    {
    }

    public virtual string? ProgressNote() => null;

    /// <summary>Runs after the last response: waits for whatever the scenario follows beyond the requests, and reports it.</summary>
    public virtual Task<ScenarioFindings> FinishAsync(CancellationToken ct) => Task.FromResult(ScenarioFindings.None);
}

/// <summary>What a scenario reports beyond its steps' latencies.</summary>
/// <param name="Rows">Extra table rows, e.g. fan-out lag.</param>
/// <param name="Markers">Moments to mark on the latency chart.</param>
/// <param name="Charts">Extra charts.</param>
public sealed record ScenarioFindings(
    IReadOnlyList<ResultRow> Rows,
    IReadOnlyList<string> Notes,
    IReadOnlyList<ChartMarker> Markers,
    IReadOnlyList<Chart> Charts)
{
    public static readonly ScenarioFindings None = new([], [], [], []);
}

/// <summary>The seeded data cannot support a scenario (e.g. there is no celebrity); the run goes on without it.</summary>
public sealed class ScenarioSkippedException(string reason) : Exception(reason);
