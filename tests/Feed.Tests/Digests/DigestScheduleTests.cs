using Feed.Digests;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Digests;

/// <summary>
/// The scheduler against the database at chosen instants: digests are due at 08:00 on each user's
/// own clock, once per local day (or ISO week), whatever the offset or daylight-saving rules.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class DigestScheduleTests(FeedApp app)
{
    private static DateTimeOffset Utc(int year, int month, int day, int hour, int minute = 0) =>
        new(year, month, day, hour, minute, 0, TimeSpan.Zero);

    [Fact]
    public async Task A_user_east_of_utc_gets_the_digest_of_their_local_morning_which_is_the_previous_utc_day()
    {
        var auckland = await app.CreateSubscriberAsync("Pacific/Auckland");
        var tokyo = await app.CreateSubscriberAsync("Asia/Tokyo");
        await app.OnlyTheseSubscribeAsync(auckland, tokyo);

        // 2026-11-24 18:55 UTC is 07:55 on the 25th in Auckland (NZDT, UTC+13): not yet.
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 11, 24, 18, 55), default));
        // 19:00 UTC on the 24th is 08:00 on the 25th in Auckland.
        Assert.Equal(1, await app.Scheduler().RunAsync(Utc(2026, 11, 24, 19, 0), default));
        // 23:00 UTC on the 24th is 08:00 on the 25th in Tokyo (UTC+9); Auckland's 25th is already claimed.
        Assert.Equal(1, await app.Scheduler().RunAsync(Utc(2026, 11, 24, 23, 0), default));

        Assert.Equal(["2026-11-25"], (await app.DigestRowsAsync(auckland.Id)).Keys);
        Assert.Equal(["2026-11-25"], (await app.DigestRowsAsync(tokyo.Id)).Keys);
    }

    [Fact]
    public async Task Across_daylight_saving_changes_the_digest_still_goes_at_08_00_local_once_a_day()
    {
        var newYork = await app.CreateSubscriberAsync("America/New_York");
        var berlin = await app.CreateSubscriberAsync("Europe/Berlin");
        await app.OnlyTheseSubscribeAsync(newYork, berlin);
        var scheduler = app.Scheduler();

        // New York, Saturday 2026-03-07 (EST, UTC-5): 08:00 local is 13:00 UTC.
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 7, 12, 55), default));
        Assert.Equal(1, await scheduler.RunAsync(Utc(2026, 3, 7, 13, 0), default));
        // Sunday 2026-03-08, clocks went forward at 02:00 (EDT, UTC-4): 08:00 local is 12:00 UTC.
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 8, 11, 55), default));
        Assert.Equal(1, await scheduler.RunAsync(Utc(2026, 3, 8, 12, 0), default));
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 8, 13, 0), default));
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 8, 15, 55), default));
        // Sunday 2026-11-01, clocks went back at 02:00 (EST again): 12:30 UTC is 07:30 local, 13:00 UTC is 08:00.
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 11, 1, 12, 30), default));
        Assert.Equal(1, await scheduler.RunAsync(Utc(2026, 11, 1, 13, 0), default));

        // Berlin, Sunday 2026-03-29, clocks went forward at 02:00 (CEST, UTC+2): 08:00 local is 06:00 UTC.
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 29, 5, 55), default));
        Assert.Equal(1, await scheduler.RunAsync(Utc(2026, 3, 29, 6, 0), default));
        Assert.Equal(0, await scheduler.RunAsync(Utc(2026, 3, 29, 7, 0), default));

        Assert.Equal(["2026-03-07", "2026-03-08", "2026-11-01"], (await app.DigestRowsAsync(newYork.Id)).Keys.Order());
        Assert.Equal(["2026-03-29"], (await app.DigestRowsAsync(berlin.Id)).Keys);
    }

    [Fact]
    public async Task Weekly_digests_go_out_on_the_configured_local_weekday_once_per_iso_week()
    {
        var weekly = await app.CreateSubscriberAsync("UTC", "weekly");
        await app.OnlyTheseSubscribeAsync(weekly);

        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 11, 29, 8, 0), default)); // a Sunday
        Assert.Equal(1, await app.Scheduler().RunAsync(Utc(2026, 11, 30, 8, 0), default)); // a Monday
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 11, 30, 9, 0), default));
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 12, 1, 8, 0), default)); // Tuesday

        Assert.Equal(["2026-W49"], (await app.DigestRowsAsync(weekly.Id)).Keys);
    }

    [Fact]
    public async Task A_period_whose_delivery_window_has_passed_is_skipped_not_sent_late()
    {
        var late = await app.CreateSubscriberAsync();
        await app.OnlyTheseSubscribeAsync(late);

        // The window is four hours: at 12:00 the morning digest is no longer started (e.g. after an outage).
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 7, 1, 12, 0), default));
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 7, 1, 23, 59), default));
        Assert.Equal(1, await app.Scheduler().RunAsync(Utc(2026, 7, 1, 11, 59), default));
    }

    [Fact]
    public async Task A_claimed_digest_whose_job_was_lost_is_enqueued_again_after_the_requeue_delay()
    {
        var reader = await app.CreateSubscriberAsync();
        await app.OnlyTheseSubscribeAsync(reader);
        // A pending claim whose job vanished (a flushed queue) and whose requeue time has passed.
        await app.ExecuteAsync(
            "INSERT INTO digests (user_id, period, status, lease_until) VALUES ($1, '2026-07-02', 1, now() - interval '1 second')", reader.Id);

        Assert.Equal(1, await app.Scheduler().RunAsync(Utc(2026, 7, 2, 8, 30), default));
        Assert.Equal(0, await app.Scheduler().RunAsync(Utc(2026, 7, 2, 8, 35), default));
        Assert.NotEqual(DigestStatus.Failed, await app.WaitForFinishedDigestAsync(reader.Id, "2026-07-02"));
    }
}
