using System.Diagnostics.Metrics;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Infrastructure.Telemetry;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.FanOut;

/// <summary>
/// <see cref="FanOutPostJob.RunManyAsync"/> on a burst that mixes every case the set-based statement
/// sorts: an author without followers, one batch of followers, several batches, a celebrity, a post
/// deleted before its fan-out, a delete's removal, an already completed row and an unknown row.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class FanOutBurstTests(FeedApp app)
{
    private FeedStore Feeds => app.Services.GetRequiredService<FeedStore>();

    [Fact]
    public async Task Mixed_burst_reaches_exactly_the_right_feeds_and_completes_every_row()
    {
        var burst = await ArrangeMixedBurstAsync();

        using var recorded = new FanOutMeasurements(app);
        await RunBurstAsync(burst);
        await app.DrainAsync();

        await AssertOutcomeAsync(burst);
        // One post run per entry of the burst; one lag per post row completed (not the removal, the
        // row completed before, or the unknown row).
        Assert.Equal((long)burst.PostIds.Length, recorded.PostRuns);
        Assert.Equal(5L, recorded.LagRecordings);
    }

    [Fact]
    public async Task Same_burst_run_again_changes_nothing()
    {
        var burst = await ArrangeMixedBurstAsync();
        await RunBurstAsync(burst);
        await app.DrainAsync();
        var state = await RowStateAsync(burst);

        using var recorded = new FanOutMeasurements(app);
        await RunBurstAsync(burst);
        await app.DrainAsync();

        await AssertOutcomeAsync(burst);
        Assert.Equal(state, await RowStateAsync(burst));
        Assert.Equal(0L, recorded.LagRecordings);
    }

    [Fact]
    public async Task Same_burst_run_twice_at_once_reaches_each_feed_once_and_completes_each_row_once()
    {
        var burst = await ArrangeMixedBurstAsync();

        using var recorded = new FanOutMeasurements(app);
        await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => RunBurstAsync(burst))));
        await app.DrainAsync();

        await AssertOutcomeAsync(burst);
        Assert.Equal(2L * burst.PostIds.Length, recorded.PostRuns);
        Assert.Equal(5L, recorded.LagRecordings);
    }

    [Fact]
    public async Task Post_deleted_before_its_fan_out_is_completed_alone_and_its_removal_still_runs()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, 2);
        await app.DrainAsync(); // the follows' backfills, before the post exists
        var (postId, createdRow) = await app.InsertUnpublishedPostAsync(author.Id);
        await app.ExecuteAsync("UPDATE posts SET deleted_at = now() WHERE id = $1", postId);
        var removalRow = await app.InsertOutboxRowAsync(2, postId);

        // Both rows of the post in one burst, as the dispatcher may hand them over together.
        await RunJobAsync(job => job.RunManyAsync([postId, postId], [createdRow, removalRow], CancellationToken.None));

        Assert.True(await CompletedAsync(createdRow));
        Assert.True(await CompletedAsync(removalRow));
        // The removal decided the post (pushed: an ordinary author) and removed it from every feed.
        Assert.Equal((short)1, await app.ScalarAsync<short>("SELECT delivery FROM posts WHERE id = $1", postId));
        foreach (var fan in fans)
        {
            Assert.Empty(await Feeds.GetAllAsync(fan.Id));
        }
    }

    [Fact]
    public async Task Decision_committed_by_another_run_while_the_burst_waits_for_the_post_is_kept()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, 2);
        await app.DrainAsync();
        var (postId, outboxId) = await app.InsertUnpublishedPostAsync(author.Id);
        var (otherPost, otherRow) = await app.InsertUnpublishedPostAsync(author.Id);

        // Another run decides "merged" (the author was a celebrity when it looked) and has not
        // committed yet; the burst's statement waits for the post row, then must keep that decision
        // although it would itself have decided "pushed", and must not leave the row open.
        await using var decision = await app.Postgres.OpenConnectionAsync();
        await using var tx = await decision.BeginTransactionAsync();
        await using (var decide = new Npgsql.NpgsqlCommand("UPDATE posts SET delivery = 2 WHERE id = $1 AND delivery = 0", decision, tx))
        {
            decide.Parameters.Add(new Npgsql.NpgsqlParameter { Value = postId });
            await decide.ExecuteNonQueryAsync();
        }
        var burst = RunJobAsync(job => job.RunManyAsync([postId, otherPost], [outboxId, otherRow], CancellationToken.None));
        await app.WaitForLockWaitersAsync(1);
        await tx.CommitAsync();
        await burst;

        Assert.Equal((short)2, await DeliveryAsync(postId));
        Assert.Equal((short)1, await DeliveryAsync(otherPost));
        Assert.True(await CompletedAsync(outboxId));
        Assert.True(await CompletedAsync(otherRow));
        foreach (var fan in fans)
        {
            Assert.Equal(new[] { otherPost }, await Feeds.GetAllAsync(fan.Id));
        }
    }

    /// <summary>The burst's cases, arranged so that nothing but the test runs their fan-out.</summary>
    private async Task<MixedBurst> ArrangeMixedBurstAsync()
    {
        var alone = await app.CreateUserAsync("alone");
        await alone.FeedPageAsync(); // builds the author's own timeline, which the burst must add to
        var small = await app.CreateUserAsync("small");
        await small.FeedPageAsync();
        var smallFans = await app.CreateFansAsync(small, 3);
        var large = await app.CreateUserAsync("large");
        var largeFans = await app.CreateFansAsync(large, FeedApp.BatchSize * 2 + 1);
        var celebrity = await app.CreateUserAsync("celeb");
        var celebrityFans = await app.CreateFansAsync(celebrity, FeedApp.CelebrityThreshold);
        Assert.True((await smallFans[0].ProfileAsync(celebrity.Id)).IsCelebrity);
        await app.DrainAsync(); // the follows' backfills, before any of the posts exists

        // An earlier post of the small author, pushed, then deleted: its removal is part of the burst.
        var (removedPost, removedCreated) = await app.InsertUnpublishedPostAsync(small.Id);
        await RunJobAsync(job => job.RunAsync(removedPost, removedCreated, CancellationToken.None));
        foreach (var fan in smallFans)
        {
            Assert.Contains(removedPost, await Feeds.GetAllAsync(fan.Id));
        }
        await app.ExecuteAsync("UPDATE posts SET deleted_at = now() WHERE id = $1", removedPost);
        var removal = await app.InsertOutboxRowAsync(2, removedPost);

        var (alonePost, aloneRow) = await app.InsertUnpublishedPostAsync(alone.Id);
        var (smallPost, smallRow) = await app.InsertUnpublishedPostAsync(small.Id);
        var (largePost, largeRow) = await app.InsertUnpublishedPostAsync(large.Id);
        var (celebrityPost, celebrityRow) = await app.InsertUnpublishedPostAsync(celebrity.Id);
        var (deletedPost, deletedRow) = await app.InsertUnpublishedPostAsync(small.Id);
        await app.ExecuteAsync("UPDATE posts SET deleted_at = now() WHERE id = $1", deletedPost);
        var (donePost, doneRow) = await app.InsertUnpublishedPostAsync(small.Id);
        await app.ExecuteAsync("UPDATE outbox SET completed_at = now() WHERE id = $1", doneRow);
        var unknownRow = await app.ScalarAsync<long>("SELECT max(id) + 1000000 FROM outbox");

        return new MixedBurst(
            alone, small, smallFans, large, largeFans, celebrity, celebrityFans,
            alonePost, aloneRow, smallPost, smallRow, largePost, largeRow, celebrityPost, celebrityRow,
            deletedPost, deletedRow, removedPost, removal, donePost, doneRow, unknownRow,
            PostIds: [alonePost, smallPost, largePost, celebrityPost, deletedPost, removedPost, donePost, 1],
            OutboxIds: [aloneRow, smallRow, largeRow, celebrityRow, deletedRow, removal, doneRow, unknownRow]);
    }

    private async Task AssertOutcomeAsync(MixedBurst b)
    {
        // Every follower feed holds exactly its author's new post: the removed, the deleted and the
        // never-run posts are not there; the celebrity's post was not pushed at all.
        foreach (var fan in b.SmallFans)
        {
            Assert.Equal(new[] { b.SmallPost }, await Feeds.GetAllAsync(fan.Id));
        }
        foreach (var fan in b.LargeFans)
        {
            Assert.Equal(new[] { b.LargePost }, await Feeds.GetAllAsync(fan.Id));
            Assert.Single(await fan.WholeFeedAsync(), p => p.Id == b.LargePost.ToString());
        }
        foreach (var fan in b.CelebrityFans)
        {
            Assert.Empty(await Feeds.GetAllAsync(fan.Id));
        }
        // ...yet a celebrity's follower reads it, merged from the timeline.
        Assert.Equal(b.CelebrityPost.ToString(), (await b.CelebrityFans[0].FeedPageAsync()).Items[0].Id);

        // The safety-net timeline write: the posts were written by SQL, so only the job put them there.
        Assert.NotNull(await app.RedisDb.SortedSetScoreAsync(AuthorTimelineStore.Key(b.Alone.Id), b.AlonePost));
        Assert.NotNull(await app.RedisDb.SortedSetScoreAsync(AuthorTimelineStore.Key(b.Small.Id), b.SmallPost));
        Assert.Null(await app.RedisDb.SortedSetScoreAsync(AuthorTimelineStore.Key(b.Small.Id), b.DeletedPost));
        Assert.Null(await app.RedisDb.SortedSetScoreAsync(AuthorTimelineStore.Key(b.Small.Id), b.DonePost));

        foreach (var row in new[] { b.AloneRow, b.SmallRow, b.LargeRow, b.CelebrityRow, b.DeletedRow, b.RemovalRow, b.DoneRow })
        {
            Assert.True(await CompletedAsync(row), $"outbox row {row} is not completed");
        }
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE id = $1", b.UnknownRow));

        // Decided once: pushed, merged; a post deleted before its fan-out and a row done before are never decided.
        Assert.Equal((short)1, await DeliveryAsync(b.AlonePost));
        Assert.Equal((short)1, await DeliveryAsync(b.SmallPost));
        Assert.Equal((short)1, await DeliveryAsync(b.LargePost));
        Assert.Equal((short)2, await DeliveryAsync(b.CelebrityPost));
        Assert.Equal((short)0, await DeliveryAsync(b.DeletedPost));
        Assert.Equal((short)0, await DeliveryAsync(b.DonePost));

        // Only the large audience was split into batches (one generation per planning run); the rest had none.
        Assert.Equal(3, await app.ScalarAsync<int>("SELECT batches_total FROM outbox WHERE id = $1", b.LargeRow));
        Assert.Equal(0L, await app.ScalarAsync<long>(
            "SELECT count(*) FROM outbox WHERE id = ANY($1) AND (generation <> 0 OR batches_total IS NOT NULL)",
            new[] { b.AloneRow, b.SmallRow, b.CelebrityRow, b.DeletedRow, b.RemovalRow, b.DoneRow }));
    }

    /// <summary>Every row's completion time, generation and batch count, and every post's delivery.</summary>
    private async Task<string> RowStateAsync(MixedBurst b) => await app.ScalarAsync<string>(
        """
        SELECT string_agg(concat_ws('/', o.id, o.completed_at, o.generation, o.batches_total, p.delivery,
                                    (SELECT count(*) FROM fan_out_batches f WHERE f.outbox_id = o.id)), ' ' ORDER BY o.id)
        FROM outbox o JOIN posts p ON p.id = o.post_id WHERE o.id = ANY($1)
        """,
        b.OutboxIds);

    private Task RunBurstAsync(MixedBurst b) =>
        RunJobAsync(job => job.RunManyAsync(b.PostIds, b.OutboxIds, CancellationToken.None));

    private async Task RunJobAsync(Func<FanOutPostJob, Task> run)
    {
        using var scope = app.Services.CreateScope();
        await run(ActivatorUtilities.CreateInstance<FanOutPostJob>(scope.ServiceProvider));
    }

    private Task<bool> CompletedAsync(long outboxId) =>
        app.ScalarAsync<bool>("SELECT completed_at IS NOT NULL FROM outbox WHERE id = $1", outboxId);

    private Task<short> DeliveryAsync(long postId) => app.ScalarAsync<short>("SELECT delivery FROM posts WHERE id = $1", postId);

    private sealed record MixedBurst(
        TestUser Alone, TestUser Small, List<TestUser> SmallFans, TestUser Large, List<TestUser> LargeFans,
        TestUser Celebrity, List<TestUser> CelebrityFans,
        long AlonePost, long AloneRow, long SmallPost, long SmallRow, long LargePost, long LargeRow,
        long CelebrityPost, long CelebrityRow, long DeletedPost, long DeletedRow, long RemovedPost, long RemovalRow,
        long DonePost, long DoneRow, long UnknownRow, long[] PostIds, long[] OutboxIds);

    /// <summary>The app's fan-out lag recordings and post-run counts while it is alive (its own meter only).</summary>
    private sealed class FanOutMeasurements : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _lagRecordings;
        private long _postRuns;

        public FanOutMeasurements(FeedApp app)
        {
            var scope = app.Services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == FeedMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, scope)
                    && instrument.Name is FeedMetrics.FanOutLagName or FeedMetrics.PostFanOutRunsName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, _, _, _) => Interlocked.Increment(ref _lagRecordings));
            _listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref _postRuns, value));
            _listener.Start();
        }

        public long LagRecordings => Interlocked.Read(ref _lagRecordings);

        public long PostRuns => Interlocked.Read(ref _postRuns);

        public void Dispose() => _listener.Dispose();
    }
}
