namespace Feed.LoadTests.Driver;

/// <summary>What the <see cref="LoadRunner"/> drives: a named set of steps and the choice of the next one.</summary>
public interface IWorkload
{
    string Name { get; }

    /// <summary>Every step the workload may run, in report order.</summary>
    IReadOnlyList<Step> Steps { get; }

    /// <summary>The step for a request due <paramref name="elapsed"/> after the measurement started (negative in warm-up). Called concurrently in the closed model.</summary>
    Step NextStep(TimeSpan elapsed);

    /// <summary>Called once, just before the first request is due.</summary>
    void OnStarted(LoadWindow window);

    /// <summary>Extra text for the per-second progress line, or null.</summary>
    string? ProgressNote();
}
