using Feed.LoadTests.Driver;
using HdrHistogram;

namespace Feed.LoadTests.Reporting;

/// <summary>What one scenario produced, ready to be rendered.</summary>
/// <param name="Load">How it was driven, e.g. "open 500/s, 30 s after 10 s warm-up".</param>
/// <param name="Rows">Its lines in the results table: one per step, then derived measurements such as fan-out lag.</param>
/// <param name="Notes">Findings that are not a latency distribution.</param>
/// <param name="SkippedReason">Set when the scenario could not run (e.g. no celebrity seeded).</param>
public sealed record ScenarioResult(
    string Name,
    string Description,
    string Load,
    IReadOnlyList<ResultRow> Rows,
    IReadOnlyList<string> Notes,
    IReadOnlyList<Chart> Charts,
    string? SkippedReason = null)
{
    public static ScenarioResult Skipped(string name, string description, string reason) =>
        new(name, description, "–", [], [], [], reason);
}

/// <summary>One line of the results table.</summary>
/// <param name="Count">Requests (or samples, for derived rows), failed ones included.</param>
/// <param name="Throughput">Requests per second over the measured time the step could run; null for derived rows.</param>
/// <param name="Failures">Failed requests or samples, by reason.</param>
/// <param name="Latency">Percentiles over the successful ones.</param>
public sealed record ResultRow(
    string Name,
    long Count,
    double? Throughput,
    IReadOnlyDictionary<string, long> Failures,
    LatencySummary Latency)
{
    public long FailureCount => Failures.Values.Sum();

    public static ResultRow FromStep(StepStatistics step, TimeSpan activeTime)
    {
        var count = step.Latency.TotalCount + step.ErrorCount;
        return new ResultRow(step.Name, count, count / activeTime.TotalSeconds, step.Errors, LatencySummary.From(step.Latency));
    }
}

/// <summary>Percentiles in milliseconds (NaN when nothing was recorded).</summary>
public sealed record LatencySummary(long Count, double P50, double P95, double P99, double Max)
{
    public static LatencySummary From(HistogramBase histogram) => histogram.TotalCount == 0
        ? new LatencySummary(0, double.NaN, double.NaN, double.NaN, double.NaN)
        : new LatencySummary(
            histogram.TotalCount,
            Histograms.Milliseconds(histogram.GetValueAtPercentile(50)),
            Histograms.Milliseconds(histogram.GetValueAtPercentile(95)),
            Histograms.Milliseconds(histogram.GetValueAtPercentile(99)),
            Histograms.Milliseconds(histogram.GetMaxValue()));
}

/// <summary>Facts about the whole run, for the report's header.</summary>
public sealed record RunInfo(DateTimeOffset StartedAt, string CommandLine, string ServiceUrl, string Population, string Machine);
