using HdrHistogram;

namespace Feed.LoadTests.Driver;

/// <summary>
/// Everything recorded during one run. Only requests whose intended start falls in the measured
/// window count; warm-up requests feed the progress line and nothing else. Latency percentiles
/// cover successful requests; failures are counted by reason.
/// </summary>
public sealed class RunStatistics
{
    private readonly Lock _gate = new();
    private readonly LoadWindow _window;
    private readonly Dictionary<string, StepStatistics> _steps;
    private readonly List<StepStatistics> _ordered;
    private readonly SecondStatistics[] _seconds;
    private readonly LongHistogram _warmUpLatency = Histograms.Create();
    private readonly LongHistogram _measuredLatency = Histograms.Create();
    private long _completed;
    private long _measuredErrors;

    public RunStatistics(IEnumerable<string> stepNames, LoadWindow window)
    {
        _window = window;
        _ordered = [.. stepNames.Select(name => new StepStatistics(name))];
        _steps = _ordered.ToDictionary(s => s.Name, StringComparer.Ordinal);
        _seconds = new SecondStatistics[(int)Math.Ceiling(window.Duration.TotalSeconds)];
        for (var i = 0; i < _seconds.Length; i++)
        {
            _seconds[i] = new SecondStatistics(i);
        }
    }

    public LoadWindow Window => _window;

    /// <summary>Steps in report order.</summary>
    public IReadOnlyList<StepStatistics> Steps => _ordered;

    /// <summary>One entry per measured second, by intended start time.</summary>
    public IReadOnlyList<SecondStatistics> Seconds => _seconds;

    /// <summary>How late the open model's requests were handed to the HTTP client (the driver's own lag).</summary>
    public LongHistogram SendDelay { get; } = Histograms.Create();

    /// <summary>Records a finished request.</summary>
    /// <param name="intended">When it was due (open model) or started (closed model).</param>
    /// <param name="end">When its response (or failure) arrived.</param>
    /// <param name="error">Null on success, else the reason.</param>
    public void Record(string step, long intended, long end, string? error)
    {
        var micros = Histograms.Micros(end - intended);
        lock (_gate)
        {
            _completed++;
            if (!_window.IsMeasured(intended))
            {
                if (error is null)
                {
                    _warmUpLatency.RecordValue(micros);
                }
                return;
            }
            var stats = _steps[step];
            var second = _seconds[Math.Min(_seconds.Length - 1, (int)_window.Elapsed(intended).TotalSeconds)];
            if (error is null)
            {
                stats.Latency.RecordValue(micros);
                second.Latency.RecordValue(micros);
                _measuredLatency.RecordValue(micros);
            }
            else
            {
                stats.Errors[error] = stats.Errors.GetValueOrDefault(error) + 1;
                second.Errors++;
                _measuredErrors++;
            }
        }
    }

    public void RecordSendDelay(long ticks)
    {
        lock (_gate)
        {
            SendDelay.RecordValue(Histograms.Micros(ticks));
        }
    }

    /// <summary>Totals for the progress line: requests finished so far, measured errors, and p99 (ms) of the current phase.</summary>
    public (long Completed, long Errors, double P99) Progress(bool measuring)
    {
        lock (_gate)
        {
            var histogram = measuring ? _measuredLatency : _warmUpLatency;
            var p99 = histogram.TotalCount == 0 ? double.NaN : Histograms.Milliseconds(histogram.GetValueAtPercentile(99));
            return (_completed, _measuredErrors, p99);
        }
    }
}

/// <summary>One step's measured requests.</summary>
public sealed class StepStatistics(string name)
{
    public string Name { get; } = name;

    public LongHistogram Latency { get; } = Histograms.Create();

    public Dictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

    public long ErrorCount => Errors.Values.Sum();
}

/// <summary>The requests due in one second of the measured window, all steps together.</summary>
public sealed class SecondStatistics(int second)
{
    public int Second { get; } = second;

    public LongHistogram Latency { get; } = Histograms.Create(significantDigits: 2);

    public long Errors { get; set; }
}
