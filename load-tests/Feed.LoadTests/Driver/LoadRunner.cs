using System.Diagnostics;

namespace Feed.LoadTests.Driver;

/// <summary>
/// Drives one workload with a <see cref="LoadProfile"/>: a warm-up, then the measured window, then
/// waits for the requests still in flight. Prints a progress line every second.
/// </summary>
public sealed class LoadRunner(TextWriter console, int maxInFlight)
{
    /// <summary>Head start before the first request is due, so it is not late from the outset.</summary>
    private static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(50);

    public async Task<RunStatistics> RunAsync(IWorkload workload, LoadProfile profile, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp() + Ticks(Lead);
        var window = new LoadWindow(start, start + Ticks(profile.WarmUp), start + Ticks(profile.WarmUp + profile.Duration));
        var run = new Run(workload, new RunStatistics(workload.Steps.Select(s => s.Name), window), maxInFlight);
        workload.OnStarted(window);
        await using (ProgressPrinter.Start(console, workload, run.Statistics, () => run.InFlight))
        {
            var load = profile.Model switch
            {
                OpenModel open => run.OpenAsync(open.RatePerSecond, ct),
                ClosedModel closed => run.ClosedAsync(closed.Concurrency, ct),
                _ => throw new ArgumentOutOfRangeException(nameof(profile), profile.Model, "Unknown load model."),
            };
            await load;
            await run.WaitForInFlightAsync(ct);
        }
        return run.Statistics;
    }

    private static long Ticks(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);

    /// <summary>The state of one run: its statistics and the requests in flight.</summary>
    private sealed class Run(IWorkload workload, RunStatistics statistics, int maxInFlight)
    {
        private int _inFlight;

        public RunStatistics Statistics { get; } = statistics;

        public int InFlight => Volatile.Read(ref _inFlight);

        private LoadWindow Window => Statistics.Window;

        /// <summary>
        /// Request i is due at start + i / rate. A dedicated thread sleeps until the next request
        /// is due, then starts every request that is due by now; each runs inline only until its
        /// first await (a few microseconds), so nothing waits for earlier responses and no thread
        /// pool queue sits between the schedule and the socket. A request that cannot start
        /// because <c>maxInFlight</c> requests are outstanding is recorded as a failure.
        /// </summary>
        public Task OpenAsync(double rate, CancellationToken ct)
        {
            var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var scheduler = new Thread(() =>
            {
                try
                {
                    Schedule(rate, ct);
                    finished.SetResult();
                }
                catch (Exception ex)
                {
                    finished.SetException(ex);
                }
            })
            {
                IsBackground = true,
                Name = $"{workload.Name} scheduler",
            };
            scheduler.Start();
            return finished.Task;
        }

        private void Schedule(double rate, CancellationToken ct)
        {
            var interval = Stopwatch.Frequency / rate;
            for (long i = 0; ; i++)
            {
                var due = Window.Start + (long)(i * interval);
                if (due >= Window.End)
                {
                    return;
                }
                PreciseSleep.Until(due, ct);
                var step = workload.NextStep(Window.Elapsed(due));
                if (Interlocked.Increment(ref _inFlight) > maxInFlight)
                {
                    Interlocked.Decrement(ref _inFlight);
                    Statistics.Record(step.Name, due, Stopwatch.GetTimestamp(), "dropped: driver in-flight limit");
                    continue;
                }
                _ = ExecuteAsync(step, due, recordSendDelay: true, ct);
            }
        }

        /// <summary><paramref name="concurrency"/> loops, each sending its next request as soon as the previous one finished.</summary>
        public Task ClosedAsync(int concurrency, CancellationToken ct) =>
            Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(() => LoopAsync(ct), ct)));

        private async Task LoopAsync(CancellationToken ct)
        {
            var wait = Window.Start - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), ct);
            }
            while (!ct.IsCancellationRequested)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= Window.End)
                {
                    return;
                }
                Interlocked.Increment(ref _inFlight);
                await ExecuteAsync(workload.NextStep(Window.Elapsed(now)), now, recordSendDelay: false, ct);
            }
        }

        public async Task WaitForInFlightAsync(CancellationToken ct)
        {
            while (InFlight > 0)
            {
                await Task.Delay(20, ct);
            }
        }

        private async Task ExecuteAsync(Step step, long due, bool recordSendDelay, CancellationToken ct)
        {
            if (recordSendDelay)
            {
                Statistics.RecordSendDelay(Stopwatch.GetTimestamp() - due);
            }
            string? error = null;
            try
            {
                await step.Execute(ct);
            }
            catch (Exception ex)
            {
                error = ErrorReasons.Describe(ex);
            }
            Statistics.Record(step.Name, due, Stopwatch.GetTimestamp(), error);
            Interlocked.Decrement(ref _inFlight);
        }
    }
}
