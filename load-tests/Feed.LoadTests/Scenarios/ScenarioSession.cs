using System.Globalization;
using System.Runtime.InteropServices;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Reporting;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Scenarios;

/// <summary>The <c>run</c> command: connects, runs the chosen scenarios one after another, writes and prints the results.</summary>
public static class ScenarioSession
{
    /// <returns>The results, as written and printed.</returns>
    public static async Task<IReadOnlyList<ScenarioResult>> RunAsync(RunSettings settings, string commandLine, TextWriter console, CancellationToken ct)
    {
        var startedAt = DateTimeOffset.UtcNow;
        using var api = new FeedApiClient(settings.Endpoints.ServiceUrls, settings.Connections, settings.Timeout);
        await api.EnsureReachableAsync("Start it with scripts/run.sh (Development, so dev tokens work).", ct);
        await using var postgres = NpgsqlDataSource.Create(settings.Endpoints.Postgres);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(settings.Endpoints.Redis);

        var population = await Population.LoadAsync(postgres, ct);
        if (population.Users.Length == 0)
        {
            throw new InvalidOperationException("The database has no users: seed it first (Feed.LoadTests seed).");
        }
        console.WriteLine($"Population: {population.Describe()}");
        var active = Population.Sample(population.Ordinary, settings.ActiveUsers, new Random(settings.RandomSeed));
        var context = new ScenarioContext(settings, api, new TokenCache(api), postgres, redis, population, active, console);
        var runner = new LoadRunner(console, settings.MaxInFlight);
        var settler = new BacklogSettler(postgres, console);

        var results = new List<ScenarioResult>();
        foreach (var name in settings.Scenarios)
        {
            var scenario = ScenarioCatalog.Create(name, context);
            console.WriteLine();
            console.WriteLine($"== {scenario.Name}: {scenario.Profile.Describe()}");
            var leftOver = await settler.SettleAsync(settings.SettleTimeout, ct);
            try
            {
                await scenario.PrepareAsync(ct);
            }
            catch (ScenarioSkippedException skipped)
            {
                console.WriteLine($"[{scenario.Name}] skipped: {skipped.Message}");
                results.Add(ScenarioResult.Skipped(scenario.Name, scenario.Description, skipped.Message));
                continue;
            }
            var statistics = await runner.RunAsync(scenario, scenario.Profile, ct);
            var findings = await scenario.FinishAsync(ct);
            results.Add(Result(scenario, statistics, findings, leftOver));
        }

        var info = new RunInfo(startedAt, commandLine, settings.Endpoints.Describe(), population.Describe(),
            $"{Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}");
        var folder = await ResultsWriter.WriteAsync(settings.ResultsDirectory, info, results, ct);
        console.WriteLine();
        console.WriteLine(MarkdownReport.Table(results));
        foreach (var result in results.Where(r => r.Notes.Count > 0))
        {
            console.WriteLine($"{result.Name}:");
            foreach (var note in result.Notes)
            {
                console.WriteLine($"  - {note}");
            }
        }
        console.WriteLine();
        console.WriteLine($"Results written to {folder}");
        return results;
    }

    private static ScenarioResult Result(Scenario scenario, RunStatistics statistics, ScenarioFindings findings, string? leftOver)
    {
        var rows = scenario.Steps
            .Zip(statistics.Steps, (step, stats) => ResultRow.FromStep(stats, scenario.ActiveTime(step, statistics.Window.Duration)))
            .Concat(findings.Rows)
            .ToList();
        var notes = new List<string>(findings.Notes);
        if (leftOver is not null)
        {
            notes.Insert(0, leftOver);
        }
        if (scenario.Profile.Model is OpenModel && statistics.SendDelay.TotalCount > 0)
        {
            var delay = LatencySummary.From(statistics.SendDelay);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Driver send delay (due → handed to HttpClient): p50 {Format.Ms(delay.P50)}, p99 {Format.Ms(delay.P99)}, max {Format.Ms(delay.Max)}. If this is large, the driver itself could not keep the schedule (CPU starved): the latencies then include its lateness."));
        }
        return new ScenarioResult(
            scenario.Name,
            scenario.Description,
            scenario.Profile.Describe(),
            rows,
            notes,
            [Chart.Latency(scenario.Name, statistics, findings.Markers), .. findings.Charts]);
    }
}
