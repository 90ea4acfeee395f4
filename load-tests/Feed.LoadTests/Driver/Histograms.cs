using System.Diagnostics;
using HdrHistogram;

namespace Feed.LoadTests.Driver;

/// <summary>HdrHistogram conventions used throughout: values in microseconds, 1 µs to one hour.</summary>
public static class Histograms
{
    public const long HighestMicros = 3_600_000_000;

    /// <param name="significantDigits">3 for reported figures (0.1 % error), 2 for the per-second timeline (1 %).</param>
    public static LongHistogram Create(int significantDigits = 3) => new(1, HighestMicros, significantDigits);

    /// <summary>Stopwatch ticks as microseconds, clamped into the trackable range.</summary>
    public static long Micros(long stopwatchTicks) =>
        Math.Clamp((long)(stopwatchTicks * (1_000_000.0 / Stopwatch.Frequency)), 1, HighestMicros);

    public static double Milliseconds(long micros) => micros / 1000.0;
}
