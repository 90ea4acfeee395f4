using System.Diagnostics;
using System.Globalization;

namespace Feed.LoadTests.Driver;

/// <summary>Prints one line a second while a run is going: phase, completion rate, in-flight requests, errors and p99 so far.</summary>
public sealed class ProgressPrinter : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private ProgressPrinter(TextWriter console, IWorkload workload, RunStatistics statistics, Func<int> inFlight)
    {
        _loop = LoopAsync(console, workload, statistics, inFlight, _stop.Token);
    }

    public static ProgressPrinter Start(TextWriter console, IWorkload workload, RunStatistics statistics, Func<int> inFlight) =>
        new(console, workload, statistics, inFlight);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    private static async Task LoopAsync(
        TextWriter console, IWorkload workload, RunStatistics statistics, Func<int> inFlight, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        var window = statistics.Window;
        var lastCompleted = 0L;
        var lastAt = Stopwatch.GetTimestamp();
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = Stopwatch.GetTimestamp();
                var measuring = now >= window.MeasureStart;
                var (completed, errors, p99) = statistics.Progress(measuring);
                var rate = (completed - lastCompleted) / Stopwatch.GetElapsedTime(lastAt, now).TotalSeconds;
                (lastCompleted, lastAt) = (completed, now);

                var phase = now >= window.End ? "finishing"
                    : measuring ? $"{window.Elapsed(now).TotalSeconds,3:0}/{window.Duration.TotalSeconds:0} s"
                    : $"warm-up {Stopwatch.GetElapsedTime(window.Start, now).TotalSeconds:0}/{Stopwatch.GetElapsedTime(window.Start, window.MeasureStart).TotalSeconds:0} s";
                var line = string.Create(CultureInfo.InvariantCulture,
                    $"[{workload.Name}] {phase} | {rate,6:0} req/s | in flight {inFlight(),4} | errors {errors} | p99{(measuring ? " so far" : "")} {Format.Ms(p99)}");
                var note = workload.ProgressNote();
                console.WriteLine(note is null ? line : $"{line} | {note}");
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
