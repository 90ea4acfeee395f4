using System.Diagnostics;
using Feed.Digests;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Feed.Tests.Digests;

/// <summary>
/// Measures the digest path: how fast the scheduler claims and enqueues due users, how fast the
/// workers get through them, and how long composing a large digest takes. Reported, not asserted
/// (a test never asserts on wall-clock time); the test only requires that every digest finishes.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class DigestThroughputTests(FeedApp app, ITestOutputHelper output)
{
    private const int Subscribers = 1000;
    private const int Authors = 200;
    private const int PostsPerAuthor = 25;

    [Fact]
    public async Task Scheduling_sending_and_composing_at_volume_finish_and_their_times_are_reported()
    {
        // Subscribers seeded in SQL, following nobody: each digest job takes the nothing-new path (no SMTP).
        var tag = $"tp{Guid.NewGuid():N}"[..10];
        await app.OnlyTheseSubscribeAsync();
        await app.ExecuteAsync($"""
            INSERT INTO users (handle, handle_normalized, display_name, email, time_zone, digest_enabled)
            SELECT '{tag}_' || i, '{tag}_' || i, 'Subscriber ' || i, '{tag}-' || i || '@example.test', 'Europe/Paris', true
            FROM generate_series(1, {Subscribers}) i
            """);
        var due = new DateTimeOffset(2026, 6, 1, 6, 30, 0, TimeSpan.Zero); // 08:30 in Paris

        var scheduling = Stopwatch.StartNew();
        var enqueued = await app.Scheduler().RunAsync(due, default);
        var scheduled = scheduling.Elapsed;
        Assert.Equal(Subscribers, enqueued);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (await FinishedAsync(tag) < Subscribers)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{await FinishedAsync(tag)} of {Subscribers} digests finished in time.");
            await Task.Delay(100);
        }
        var drained = scheduling.Elapsed;

        // One reader following many authors who all posted since the last read.
        var reader = await app.CreateSubscriberAsync();
        await app.ExecuteAsync($"""
            INSERT INTO users (handle, handle_normalized, display_name)
            SELECT '{tag}a' || i, '{tag}a' || i, 'Author ' || i FROM generate_series(1, {Authors}) i
            """);
        await app.ExecuteAsync($"INSERT INTO follows (follower_id, followee_id) SELECT $1, id FROM users WHERE handle LIKE '{tag}a%'", reader.Id);
        await app.ExecuteAsync($"""
            INSERT INTO posts (author_id, body)
            SELECT u.id, 'post ' || n FROM users u, generate_series(1, {PostsPerAuthor}) n WHERE u.handle LIKE '{tag}a%'
            """);
        var composer = app.Services.GetRequiredService<DigestComposer>();
        var recipient = (await composer.LoadRecipientAsync(reader.Id, default))!;
        var samples = new List<double>();
        DigestContent? content = null;
        for (var i = 0; i < 21; i++)
        {
            var started = Stopwatch.GetTimestamp();
            content = await composer.ComposeAsync(recipient, default);
            samples.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        Assert.Equal(Authors * PostsPerAuthor, content!.Total);
        samples.Sort();

        output.WriteLine(
            $"scheduler: {Subscribers} due users claimed and enqueued in {scheduled.TotalMilliseconds:F0} ms " +
            $"({Subscribers / scheduled.TotalSeconds:F0}/s); all {Subscribers} nothing-new digests finished " +
            $"{drained.TotalMilliseconds:F0} ms after the run started (polled every 100 ms, 2 digest workers, the default)");
        output.WriteLine(
            $"composer: {Authors} followed authors × {PostsPerAuthor} new posts: median {samples[samples.Count / 2]:F1} ms, max {samples[^1]:F1} ms (21 runs)");
    }

    private Task<long> FinishedAsync(string tag) => app.ScalarAsync<long>($"""
        SELECT count(*) FROM digests d JOIN users u ON u.id = d.user_id WHERE u.handle LIKE '{tag}\_%' AND d.status = 4
        """);
}
