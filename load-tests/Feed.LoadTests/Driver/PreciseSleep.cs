using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Feed.LoadTests.Driver;

/// <summary>
/// Blocks the calling thread until a <see cref="Stopwatch"/> timestamp. On Linux it uses
/// <c>nanosleep</c>, which wakes within tens of microseconds; <see cref="Thread.Sleep(int)"/>
/// only sleeps whole milliseconds, which would make every open-model request up to a millisecond
/// late, and that lateness is part of the measured latency. Elsewhere it falls back to 1 ms sleeps.
/// </summary>
public static partial class PreciseSleep
{
    /// <summary>Longest single sleep, so cancellation is noticed promptly.</summary>
    private const long MaxSliceNanoseconds = 50_000_000;

    public static void Until(long timestamp, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var remaining = timestamp - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }
            if (OperatingSystem.IsLinux())
            {
                var nanoseconds = Math.Min(MaxSliceNanoseconds, (long)(remaining * (1e9 / Stopwatch.Frequency)));
                var request = new Timespec(nanoseconds / 1_000_000_000, nanoseconds % 1_000_000_000);
                NanoSleep(ref request, IntPtr.Zero);
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }

    [DllImport("libc", EntryPoint = "nanosleep")]
    private static extern int NanoSleep(ref Timespec request, IntPtr remaining);

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct Timespec(long seconds, long nanoseconds)
    {
        public readonly long Seconds = seconds;
        public readonly long Nanoseconds = nanoseconds;
    }
}
