using System.Net;
using System.Net.Http.Json;
using Feed.Digests;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Digests;

/// <summary>A user who has opted in to digests, with their own mailbox on the test SMTP server.</summary>
public sealed record Subscriber(TestUser User, string Email)
{
    public long Id => User.Id;
}

internal static class DigestTestKit
{
    /// <summary>Creates a user with a fresh email address and digests on, in the given zone and frequency.</summary>
    public static async Task<Subscriber> CreateSubscriberAsync(this FeedApp app, string timeZone = "UTC", string frequency = "daily")
    {
        var user = await app.CreateUserAsync("dg");
        var email = Maildev.NewAddress(user.Handle.ToLowerInvariant());
        var response = await user.Client.PatchAsJsonAsync(
            "/v1/users/me/settings", new { email, timeZone, digestEnabled = true, digestFrequency = frequency });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return new Subscriber(user, email);
    }

    /// <summary>
    /// Turns digests off for every other user in the database, so a scheduler run in this test sees
    /// only this test's subscribers (tests of the collection run one at a time).
    /// </summary>
    public static Task OnlyTheseSubscribeAsync(this FeedApp app, params Subscriber[] subscribers) =>
        app.ExecuteAsync("UPDATE users SET digest_enabled = false WHERE digest_enabled AND id <> ALL($1)", subscribers.Select(s => s.Id).ToArray());

    public static ScheduleDigestsJob Scheduler(this FeedApp app) => ActivatorUtilities.CreateInstance<ScheduleDigestsJob>(app.Services);

    public static SendDigestJob Sender(this FeedApp app) => ActivatorUtilities.CreateInstance<SendDigestJob>(app.Services);

    /// <summary>The user's digest rows: period → status.</summary>
    public static async Task<Dictionary<string, DigestStatus>> DigestRowsAsync(this FeedApp app, long userId)
    {
        await using var cmd = app.Postgres.CreateCommand("SELECT period, status FROM digests WHERE user_id = $1");
        cmd.Parameters.AddWithValue(userId);
        await using var reader = await cmd.ExecuteReaderAsync();
        var rows = new Dictionary<string, DigestStatus>();
        while (await reader.ReadAsync())
        {
            rows[reader.GetString(0)] = (DigestStatus)reader.GetInt16(1);
        }
        return rows;
    }

    /// <summary>Waits until the digest of the user for the period has reached a final status, and returns it.</summary>
    public static async Task<DigestStatus> WaitForFinishedDigestAsync(this FeedApp app, long userId, string period, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if ((await app.DigestRowsAsync(userId)).TryGetValue(period, out var status) &&
                status is DigestStatus.Sent or DigestStatus.NothingNew or DigestStatus.Failed)
            {
                return status;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The digest of user {userId} for {period} did not finish in time.");
            }
            await Task.Delay(50);
        }
    }

    public static async Task<bool> DigestEnabledAsync(this FeedApp app, long userId) =>
        await app.ScalarAsync<bool>("SELECT digest_enabled FROM users WHERE id = $1", userId);
}
