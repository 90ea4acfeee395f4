using Feed.Digests;

namespace Feed.Tests.Digests;

/// <summary>The period arithmetic on its own: local dates, ISO weeks, the delivery window.</summary>
public sealed class DigestPeriodsTests
{
    private static readonly DigestOptions Options = new();

    [Theory]
    [InlineData("UTC", "2026-06-01T08:00:00Z", "2026-06-01")]
    [InlineData("UTC", "2026-06-01T07:59:59Z", null)]
    [InlineData("UTC", "2026-06-01T11:59:59Z", "2026-06-01")]
    [InlineData("UTC", "2026-06-01T12:00:00Z", null)]
    [InlineData("Pacific/Auckland", "2026-11-24T19:00:00Z", "2026-11-25")]
    [InlineData("Pacific/Kiritimati", "2026-11-24T18:00:00Z", "2026-11-25")]
    [InlineData("America/New_York", "2026-03-08T12:00:00Z", "2026-03-08")]
    [InlineData("America/New_York", "2026-03-08T11:59:00Z", null)]
    [InlineData("America/New_York", "2026-11-01T13:00:00Z", "2026-11-01")]
    [InlineData("America/New_York", "2026-11-01T12:59:00Z", null)]
    [InlineData("Asia/Kolkata", "2026-06-01T02:30:00Z", "2026-06-01")]
    [InlineData("Pacific/Honolulu", "2026-06-01T18:00:00Z", "2026-06-01")]
    public void Daily_period_is_the_users_local_date_from_the_delivery_time(string zone, string instant, string? expected)
    {
        var at = DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, DigestPeriods.Due(at, TimeZoneInfo.FindSystemTimeZoneById(zone), DigestFrequency.Daily, Options));
    }

    [Theory]
    [InlineData("2026-11-30T08:00:00Z", "2026-W49")]
    [InlineData("2026-12-28T08:00:00Z", "2026-W53")]
    [InlineData("2027-01-04T08:00:00Z", "2027-W01")]
    [InlineData("2026-12-01T08:00:00Z", null)]
    public void Weekly_period_is_the_iso_week_of_the_configured_local_weekday(string instant, string? expected)
    {
        var at = DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(expected, DigestPeriods.Due(at, TimeZoneInfo.Utc, DigestFrequency.Weekly, Options));
    }

    [Fact]
    public void A_delivery_time_skipped_by_a_daylight_saving_jump_is_due_right_after_the_jump()
    {
        var options = new DigestOptions { DeliveryLocalTime = new TimeOnly(2, 30) };
        var newYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");
        // 2026-03-08: local clocks jump from 01:59:59 EST (06:59:59 UTC) to 03:00 EDT (07:00 UTC); 02:30 never happens.
        Assert.Null(DigestPeriods.Due(DateTimeOffset.Parse("2026-03-08T06:59:00Z", System.Globalization.CultureInfo.InvariantCulture), newYork, DigestFrequency.Daily, options));
        Assert.Equal("2026-03-08", DigestPeriods.Due(DateTimeOffset.Parse("2026-03-08T07:00:00Z", System.Globalization.CultureInfo.InvariantCulture), newYork, DigestFrequency.Daily, options));
    }

    [Theory]
    [InlineData("2026-06-01", DigestFrequency.Daily)]
    [InlineData("2026-W01", DigestFrequency.Weekly)]
    [InlineData("2026-W53", DigestFrequency.Weekly)]
    [InlineData("2027-W53", null)]
    [InlineData("2026-W00", null)]
    [InlineData("2026-13-01", null)]
    [InlineData("yesterday", null)]
    [InlineData("", null)]
    public void Period_keys_are_recognised(string period, DigestFrequency? expected) =>
        Assert.Equal(expected, DigestPeriods.FrequencyOf(period));
}
