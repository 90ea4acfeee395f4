using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Reporting;

/// <summary>A line chart, rendered by <see cref="SvgChart"/>.</summary>
/// <param name="Id">Distinguishes a scenario's charts in file names, e.g. "latency".</param>
/// <param name="LogScale">A logarithmic y axis (for latencies whose max dwarfs the median).</param>
public sealed record Chart(
    string Id,
    string Title,
    string XLabel,
    string YLabel,
    bool LogScale,
    IReadOnlyList<ChartSeries> Series,
    IReadOnlyList<ChartMarker> Markers)
{
    /// <summary>p50, p95, p99 and max of every successful request, per second of intended start time.</summary>
    public static Chart Latency(string scenario, RunStatistics statistics, IReadOnlyList<ChartMarker> markers)
    {
        var seconds = statistics.Seconds;
        ChartSeries Percentile(string name, string color, Func<LatencySummary, double> pick) => new(name, color,
            [.. seconds.Select(s => new ChartPoint(s.Second + 0.5, pick(LatencySummary.From(s.Latency))))]);
        return new Chart(
            "latency",
            $"{scenario}: request latency per second (all steps, from intended start)",
            "seconds since the measurement started",
            "latency (ms, log scale)",
            LogScale: true,
            [
                Percentile("p50", "#1f77b4", l => l.P50),
                Percentile("p95", "#2ca02c", l => l.P95),
                Percentile("p99", "#ff7f0e", l => l.P99),
                Percentile("max", "#d62728", l => l.Max),
            ],
            markers);
    }
}

/// <param name="Points">In x order; a NaN y leaves a gap.</param>
public sealed record ChartSeries(string Name, string Color, IReadOnlyList<ChartPoint> Points);

public readonly record struct ChartPoint(double X, double Y);

/// <summary>A labelled vertical line, e.g. the moment a celebrity posted.</summary>
public sealed record ChartMarker(double X, string Label);
