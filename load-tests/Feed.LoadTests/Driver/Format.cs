using System.Globalization;

namespace Feed.LoadTests.Driver;

/// <summary>Number formatting shared by the progress line and the reports.</summary>
public static class Format
{
    /// <summary>Milliseconds with a unit and about three significant digits; a dash when there is no value.</summary>
    public static string Ms(double ms) => double.IsNaN(ms) ? "–" : $"{Number(ms)} ms";

    /// <summary>Milliseconds without a unit (for table cells whose header names it).</summary>
    public static string Number(double value) => value switch
    {
        double.NaN => "–",
        < 10 => value.ToString("0.00", CultureInfo.InvariantCulture),
        < 100 => value.ToString("0.0", CultureInfo.InvariantCulture),
        _ => value.ToString("#,0", CultureInfo.InvariantCulture),
    };

    public static string Count(long value) => value.ToString("#,0", CultureInfo.InvariantCulture);
}
