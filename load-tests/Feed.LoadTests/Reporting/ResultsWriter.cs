using System.Globalization;

namespace Feed.LoadTests.Reporting;

/// <summary>Writes a run's results into <c>&lt;root&gt;/&lt;timestamp&gt;/</c>: <c>summary.md</c> and one SVG per chart.</summary>
public static class ResultsWriter
{
    /// <returns>The folder written.</returns>
    public static async Task<string> WriteAsync(string root, RunInfo info, IReadOnlyList<ScenarioResult> results, CancellationToken ct)
    {
        var folder = Path.Combine(root, info.StartedAt.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
        Directory.CreateDirectory(folder);
        foreach (var result in results)
        {
            foreach (var chart in result.Charts)
            {
                await File.WriteAllTextAsync(Path.Combine(folder, FileName(result, chart)), SvgChart.Render(chart), ct);
            }
        }
        await File.WriteAllTextAsync(Path.Combine(folder, "summary.md"), MarkdownReport.Render(info, results, FileName), ct);
        return folder;
    }

    private static string FileName(ScenarioResult result, Chart chart) => $"{result.Name}-{chart.Id}.svg";
}
