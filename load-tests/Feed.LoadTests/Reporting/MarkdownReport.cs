using System.Globalization;
using System.Text;
using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Reporting;

/// <summary>The run's summary: one table with every scenario's rows, then a section per scenario with its notes and charts.</summary>
public static class MarkdownReport
{
    public static string Render(RunInfo info, IReadOnlyList<ScenarioResult> results, Func<ScenarioResult, Chart, string> chartFile)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# Feed load test, {info.StartedAt:yyyy-MM-dd HH:mm:ss} UTC");
        md.AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"- Service: {info.ServiceUrl} · data: {info.Population}");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {info.Machine} (the driver shares it with the service, Postgres and Redis)");
        md.AppendLine(CultureInfo.InvariantCulture, $"- Command: `{info.CommandLine}`");
        md.AppendLine();
        md.Append(Table(results));
        md.AppendLine();
        md.AppendLine("""
            Latencies are in milliseconds over successful requests. In the open model each request's
            latency runs from the moment it was due to be sent, not from when it was sent, so time a
            request spent waiting behind a stall (coordinated omission) is counted. Derived rows (fan-out
            lag) count samples instead of requests; their failures are samples that never converged.
            """);

        foreach (var result in results)
        {
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"## {result.Name}");
            md.AppendLine();
            md.AppendLine(result.Description);
            md.AppendLine();
            if (result.SkippedReason is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"Skipped: {result.SkippedReason}");
                continue;
            }
            md.AppendLine(CultureInfo.InvariantCulture, $"Load: {result.Load}.");
            md.AppendLine();
            foreach (var note in result.Notes)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- {note}");
            }
            foreach (var row in result.Rows.Where(r => r.FailureCount > 0))
            {
                var reasons = string.Join(", ", row.Failures.OrderByDescending(f => f.Value).Select(f => $"{f.Key} × {Format.Count(f.Value)}"));
                md.AppendLine(CultureInfo.InvariantCulture, $"- Failures of {row.Name}: {reasons}");
            }
            foreach (var chart in result.Charts)
            {
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"![{chart.Title}]({chartFile(result, chart)})");
            }
        }
        return md.ToString();
    }

    /// <summary>The results table alone (also printed to the console).</summary>
    public static string Table(IReadOnlyList<ScenarioResult> results)
    {
        var md = new StringBuilder();
        md.AppendLine("| Scenario | Step | Load | Count | Throughput (/s) | Failed | p50 | p95 | p99 | max |");
        md.AppendLine("|---|---|---|--:|--:|--:|--:|--:|--:|--:|");
        foreach (var result in results)
        {
            if (result.SkippedReason is not null)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"| {result.Name} | skipped | | | | | | | | |");
                continue;
            }
            var first = true;
            foreach (var row in result.Rows)
            {
                var latency = row.Latency;
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {(first ? result.Name : "")} | {row.Name} | {(first ? result.Load : "")} | {Format.Count(row.Count)} | {(row.Throughput is { } t ? Format.Number(t) : "–")} | {Format.Count(row.FailureCount)} | {Format.Number(latency.P50)} | {Format.Number(latency.P95)} | {Format.Number(latency.P99)} | {Format.Number(latency.Max)} |");
                first = false;
            }
        }
        return md.ToString();
    }
}
