using System.Diagnostics;

namespace Feed.LoadTests.Driver;

/// <summary>The moments of one run, as <see cref="Stopwatch"/> timestamps.</summary>
/// <param name="Start">The first (warm-up) request is due.</param>
/// <param name="MeasureStart">Warm-up ends; requests due from here on are recorded.</param>
/// <param name="End">No request is due at or after this.</param>
public sealed record LoadWindow(long Start, long MeasureStart, long End)
{
    public TimeSpan Duration => Stopwatch.GetElapsedTime(MeasureStart, End);

    /// <summary>Time since the measurement started (negative during warm-up).</summary>
    public TimeSpan Elapsed(long timestamp) => timestamp >= MeasureStart
        ? Stopwatch.GetElapsedTime(MeasureStart, timestamp)
        : -Stopwatch.GetElapsedTime(timestamp, MeasureStart);

    /// <summary>The timestamp <paramref name="offset"/> after the measurement started.</summary>
    public long At(TimeSpan offset) => MeasureStart + (long)(offset.TotalSeconds * Stopwatch.Frequency);

    public bool IsMeasured(long timestamp) => timestamp >= MeasureStart && timestamp < End;
}
