using System.ComponentModel;
using System.Reflection;
using Feed.Digests;
using Feed.Feeds;
using Feed.Follows;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Postgres;
using Feed.Maintenance;
using Feed.Outbox;
using Feed.Tests.Infrastructure;
using Hangfire;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using StackExchange.Redis;

namespace Feed.Tests.Maintenance;

/// <summary>Each maintenance cron does its work, and a second run at the same time does none of it.</summary>
[Collection(AppCollection.Name)]
public sealed class MaintenanceJobsTests(FeedApp app)
{
    [Fact]
    public void Every_recurring_job_is_registered_with_its_schedule_and_a_readable_name()
    {
        var expected = new Dictionary<string, Type>
        {
            [ScheduleDigestsJob.RecurringJobId] = typeof(ScheduleDigestsJob),
            [SweepOutboxJob.RecurringJobId] = typeof(SweepOutboxJob),
            [TrimFeedsJob.RecurringJobId] = typeof(TrimFeedsJob),
            [ReconcileFollowCountsJob.RecurringJobId] = typeof(ReconcileFollowCountsJob),
            [RetentionJob.RecurringJobId] = typeof(RetentionJob),
        };
        // Registered at start-up and every five minutes; a test that flushed Redis may have removed them since.
        app.Services.GetServices<IHostedService>().OfType<RecurringJobsRegistrar>().Single().Register();

        List<RecurringJobDto> jobs;
        using (var connection = app.Services.GetRequiredService<JobStorage>().GetConnection())
        {
            jobs = connection.GetRecurringJobs();
        }

        foreach (var (id, type) in expected)
        {
            var job = Assert.Single(jobs, j => j.Id == id);
            Assert.Equal(type, job.Job.Type);
            Assert.False(string.IsNullOrWhiteSpace(job.Job.Method.GetCustomAttribute<DisplayNameAttribute>()?.DisplayName), id);
            Assert.Equal(JobQueues.Maintenance, JobQueueOf(job));
        }
        Assert.Equal(FeedApp.NeverCron, jobs.Single(j => j.Id == TrimFeedsJob.RecurringJobId).Cron);
    }

    [Fact]
    public async Task Outbox_sweep_deletes_finished_rows_past_retention_and_expired_idempotency_keys_only()
    {
        var old = await InsertOutboxAsync("now() - interval '8 days'");
        var recent = await InsertOutboxAsync("now() - interval '1 hour'");
        await app.ExecuteAsync("INSERT INTO fan_out_batches (outbox_id, generation, batch_index) VALUES ($1, 1, 0)", old);
        var open = await InsertOutboxAsync("NULL");
        var user = await app.CreateUserAsync("sweep");
        await app.ExecuteAsync("""
            INSERT INTO idempotency_keys (user_id, key, request_hash, post_id, created_at)
            VALUES ($1, 'old', 'h', 0, now() - interval '25 hours'), ($1, 'fresh', 'h', 0, now())
            """, user.Id);
        try
        {
            var result = await ActivatorUtilities.CreateInstance<SweepOutboxJob>(app.Services).RunAsync(default);

            Assert.False(result.Skipped);
            Assert.True(result.OutboxRows >= 1 && result.IdempotencyKeys >= 1, result.ToString());
            Assert.Equal([recent, open], await OutboxIdsAsync(old, recent, open));
            Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1", old));
            Assert.Equal("fresh", await app.ScalarAsync<string>("SELECT string_agg(key, ',') FROM idempotency_keys WHERE user_id = $1", user.Id));
        }
        finally
        {
            // An open row would hold up DrainAsync in later tests.
            await app.ExecuteAsync("DELETE FROM outbox WHERE id = $1", open);
        }
    }

    [Fact]
    public async Task Feed_trimming_caps_feeds_bounds_their_lifetime_and_drops_feeds_of_inactive_or_unknown_readers()
    {
        var active = await app.CreateUserAsync("active");
        var inactive = await app.CreateUserAsync("inactive");
        await active.FeedPageAsync();
        await inactive.FeedPageAsync();
        var db = app.RedisDb;
        var activeKey = FeedStore.Key(active.Id);
        // A cap that was lowered, or a writer that did not trim, and a key that lost its expiry.
        var overCap = Enumerable.Range(1, 850).Select(i => new SortedSetEntry(i, i)).ToArray();
        await db.SortedSetAddAsync(activeKey, overCap);
        await db.KeyPersistAsync(activeKey);
        await app.ExecuteAsync("UPDATE users SET last_feed_read_at = now() - interval '30 days' WHERE id = $1", inactive.Id);
        var unknownKey = FeedStore.Key(987_654_321_012);
        await db.SortedSetAddAsync(unknownKey, [new SortedSetEntry(0, 0), new SortedSetEntry(5, 5)]);

        var result = await ActivatorUtilities.CreateInstance<TrimFeedsJob>(app.Services).RunAsync(default);

        Assert.False(result.Skipped);
        Assert.Equal(801, await db.SortedSetLengthAsync(activeKey)); // the sentinel and the newest 800
        Assert.Equal((long?)0, await db.SortedSetRankAsync(activeKey, 0));
        Assert.Null(await db.SortedSetScoreAsync(activeKey, 50));
        Assert.NotNull(await db.SortedSetScoreAsync(activeKey, 850));
        var ttl = await db.KeyTimeToLiveAsync(activeKey);
        Assert.True(ttl is { } t && t > TimeSpan.Zero && t <= TimeSpan.FromDays(14), $"TTL {ttl}");
        Assert.False(await db.KeyExistsAsync(FeedStore.Key(inactive.Id)));
        Assert.False(await db.KeyExistsAsync(unknownKey));
        Assert.True(result.FeedsDropped >= 2 && result.EntriesRemoved >= 50, result.ToString());
    }

    [Fact]
    public async Task Retention_purges_digests_past_their_retention_only()
    {
        var user = await app.CreateUserAsync("retained");
        await app.ExecuteAsync("""
            INSERT INTO digests (user_id, period, status, created_at) VALUES
                ($1, '2026-01-01', 3, now() - interval '100 days'),
                ($1, '2026-06-01', 3, now() - interval '10 days')
            """, user.Id);

        var removed = await ActivatorUtilities.CreateInstance<RetentionJob>(app.Services).RunAsync(default);

        Assert.True(removed["digests"] >= 1);
        Assert.Equal("2026-06-01", await app.ScalarAsync<string>("SELECT string_agg(period, ',') FROM digests WHERE user_id = $1", user.Id));
    }

    [Fact]
    public async Task A_maintenance_job_skips_while_another_run_holds_its_lock()
    {
        var old = await InsertOutboxAsync("now() - interval '30 days'");
        var user = await app.CreateUserAsync("locked");
        await app.ExecuteAsync(
            "INSERT INTO digests (user_id, period, status, created_at) VALUES ($1, '2025-01-01', 3, now() - interval '400 days')", user.Id);
        var sweep = ActivatorUtilities.CreateInstance<SweepOutboxJob>(app.Services);
        var retention = ActivatorUtilities.CreateInstance<RetentionJob>(app.Services);
        var trim = ActivatorUtilities.CreateInstance<TrimFeedsJob>(app.Services);

        await using (await AdvisoryLock.TryAcquireAsync(app.Postgres, SweepOutboxJob.RecurringJobId, default))
        await using (await AdvisoryLock.TryAcquireAsync(app.Postgres, RetentionJob.RecurringJobId, default))
        await using (await AdvisoryLock.TryAcquireAsync(app.Postgres, TrimFeedsJob.RecurringJobId, default))
        {
            Assert.True((await sweep.RunAsync(default)).Skipped);
            Assert.Empty(await retention.RunAsync(default));
            Assert.True((await trim.RunAsync(default)).Skipped);
            Assert.Equal([old], await OutboxIdsAsync(old));
            Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM digests WHERE user_id = $1", user.Id));
        }

        Assert.False((await sweep.RunAsync(default)).Skipped);
        Assert.NotEmpty(await retention.RunAsync(default));
        Assert.Empty(await OutboxIdsAsync(old));
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM digests WHERE user_id = $1", user.Id));
    }

    [Fact]
    public async Task A_released_lock_stays_in_no_pooled_session_although_the_pool_does_not_reset_sessions()
    {
        var pool = app.Services.GetRequiredService<NpgsqlDataSource>();
        Assert.True(new NpgsqlConnectionStringBuilder(pool.ConnectionString).NoResetOnClose);
        var name = $"lock-test-{Guid.NewGuid():N}";
        for (var i = 0; i < 3; i++)
        {
            await using var held = await AdvisoryLock.TryAcquireAsync(pool, name, default);
            Assert.NotNull(held);
            Assert.Null(await AdvisoryLock.TryAcquireAsync(app.Postgres, name, default));
        }
        // Another session takes it at once: no pooled session kept it.
        await using var other = await AdvisoryLock.TryAcquireAsync(app.Postgres, name, default);
        Assert.NotNull(other);
    }

    // Registered without an explicit queue, a recurring job runs on the queue of its method's [Queue].
    private static string? JobQueueOf(RecurringJobDto job) => job.Job.Method.GetCustomAttribute<QueueAttribute>()?.Queue;

    /// <summary>An outbox row of a demotion (no feed work behind it) completed at the given SQL time, or open.</summary>
    private async Task<long> InsertOutboxAsync(string completedAt) =>
        await app.ScalarAsync<long>($"""
            INSERT INTO outbox (kind, user_id, next_attempt_at, completed_at) VALUES (5, 1, now() + interval '1 day', {completedAt}) RETURNING id
            """);

    private async Task<List<long>> OutboxIdsAsync(params long[] ids)
    {
        await using var cmd = app.Postgres.CreateCommand("SELECT id FROM outbox WHERE id = ANY($1) ORDER BY id");
        cmd.Parameters.AddWithValue(ids);
        await using var reader = await cmd.ExecuteReaderAsync();
        var found = new List<long>();
        while (await reader.ReadAsync())
        {
            found.Add(reader.GetInt64(0));
        }
        return found;
    }
}
