using System.Globalization;

namespace Feed.Digests;

/// <summary>
/// Which digest period is due on a user's local clock. A period is a local date (daily,
/// <c>2026-11-25</c>) or an ISO week (weekly, <c>2026-W48</c>), both in the user's time zone:
/// so a user east of UTC gets the digest of their own morning, which may still be the previous
/// UTC day, and a daylight-saving change moves the UTC instant, not the local delivery time.
/// </summary>
public static class DigestPeriods
{
    /// <summary>
    /// The period whose digest is due at <paramref name="now"/> for a user in <paramref name="zone"/>,
    /// or null. Due means: the local time of day is at or after the delivery time and still inside
    /// the delivery window, and (weekly) the local day is the configured weekday. Whether it was
    /// already sent is the database's business (the unique digest row).
    /// </summary>
    public static string? Due(DateTimeOffset now, TimeZoneInfo zone, DigestFrequency frequency, DigestOptions options)
    {
        var local = TimeZoneInfo.ConvertTime(now, zone);
        var sinceDelivery = local.TimeOfDay - options.DeliveryLocalTime.ToTimeSpan();
        if (sinceDelivery < TimeSpan.Zero || sinceDelivery >= options.DeliveryWindow)
        {
            return null;
        }
        var date = DateOnly.FromDateTime(local.DateTime);
        return frequency switch
        {
            DigestFrequency.Daily => Daily(date),
            DigestFrequency.Weekly when date.DayOfWeek == options.WeeklyDay => Weekly(date),
            _ => null,
        };
    }

    public static string Daily(DateOnly localDate) => localDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    public static string Weekly(DateOnly localDate)
    {
        var day = localDate.ToDateTime(TimeOnly.MinValue);
        return string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(day):D4}-W{ISOWeek.GetWeekOfYear(day):D2}");
    }

    /// <summary>The frequency a period key belongs to, or null when it is not a period key.</summary>
    public static DigestFrequency? FrequencyOf(string? period)
    {
        if (period is { Length: 10 } && DateOnly.TryParseExact(period, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out _))
        {
            return DigestFrequency.Daily;
        }
        if (period is { Length: 8 } && period[4..6] == "-W" &&
            int.TryParse(period[..4], NumberStyles.None, CultureInfo.InvariantCulture, out var year) &&
            int.TryParse(period[6..], NumberStyles.None, CultureInfo.InvariantCulture, out var week) &&
            year is >= 1 and <= 9999 && week >= 1 && week <= ISOWeek.GetWeeksInYear(year))
        {
            return DigestFrequency.Weekly;
        }
        return null;
    }
}
