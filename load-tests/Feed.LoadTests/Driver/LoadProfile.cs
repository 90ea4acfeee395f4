using System.Globalization;

namespace Feed.LoadTests.Driver;

/// <summary>How requests are started.</summary>
public abstract record LoadModel
{
    public abstract string Describe();
}

/// <summary>
/// Open model: requests start at a fixed arrival rate whatever the earlier ones are doing, as real
/// users do. Latency is measured from each request's intended start, so a stall that delays
/// sending is counted against the service instead of being hidden (coordinated omission).
/// </summary>
public sealed record OpenModel(double RatePerSecond) : LoadModel
{
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"open {RatePerSecond:0.##}/s");
}

/// <summary>Closed model: a fixed number of loops, each starting its next request when the previous one ends. Finds capacity.</summary>
public sealed record ClosedModel(int Concurrency) : LoadModel
{
    public override string Describe() => string.Create(CultureInfo.InvariantCulture, $"closed, {Concurrency} loops");
}

/// <summary>A load model applied for a warm-up (not recorded) and then a measured duration.</summary>
public sealed record LoadProfile(LoadModel Model, TimeSpan WarmUp, TimeSpan Duration)
{
    public string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Model.Describe()}, {Duration.TotalSeconds:0.#} s after {WarmUp.TotalSeconds:0.#} s warm-up");
}
