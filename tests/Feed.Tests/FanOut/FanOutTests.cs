using System.Net.Http.Json;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.FanOut;

[Collection(AppCollection.Name)]
public sealed class FanOutTests(FeedApp app)
{
    private FeedStore Feeds => app.Services.GetRequiredService<FeedStore>();

    [Fact]
    public async Task Post_reaches_every_follower_feed()
    {
        var author = await app.CreateUserAsync("author");
        // More followers than a batch holds, so the fan-out runs several batches.
        var followers = new List<TestUser>();
        for (var i = 0; i < FeedApp.BatchSize * 2 + 1 && i < FeedApp.CelebrityThreshold - 1; i++)
        {
            var follower = await app.CreateUserAsync("fan");
            await follower.FollowAsync(author);
            await follower.FeedPageAsync(); // builds the follower's feed, as an active reader's is
            followers.Add(follower);
        }

        var post = await author.PostAsync("hello followers");
        await app.DrainAsync();

        foreach (var follower in followers)
        {
            Assert.Contains(long.Parse(post.Id), await Feeds.GetAllAsync(follower.Id));
            Assert.Equal(post.Id, (await follower.FeedPageAsync()).Items[0].Id);
        }
        var batches = await app.ScalarAsync<long>(
            "SELECT count(*) FROM fan_out_batches b JOIN outbox o ON o.id = b.outbox_id WHERE o.post_id = $1", long.Parse(post.Id));
        Assert.True(batches >= 2, $"expected several batches, saw {batches}");
    }

    [Fact]
    public async Task Author_sees_own_post_at_once_before_any_fan_out()
    {
        var author = await app.CreateUserAsync("self");
        var post = await author.PostAsync("my own words");

        var page = await author.FeedPageAsync();

        Assert.Equal(post.Id, page.Items[0].Id);
        Assert.Equal("my own words", page.Items[0].Body);
    }

    [Fact]
    public async Task Celebrity_post_is_not_pushed_but_appears_through_the_read_merge()
    {
        var celebrity = await app.CreateUserAsync("celeb");
        var fans = new List<TestUser>();
        for (var i = 0; i < FeedApp.CelebrityThreshold; i++)
        {
            var fan = await app.CreateUserAsync("fan");
            await fan.FollowAsync(celebrity);
            await fan.FeedPageAsync();
            fans.Add(fan);
        }
        var profile = await fans[0].Client.GetFromJsonAsync<UserDto>($"/v1/users/{celebrity.Id}");
        Assert.True(profile!.IsCelebrity);

        var post = await celebrity.PostAsync("famous words");
        await app.DrainAsync();

        foreach (var fan in fans)
        {
            Assert.DoesNotContain(long.Parse(post.Id), await Feeds.GetAllAsync(fan.Id));
            Assert.Equal(post.Id, (await fan.FeedPageAsync()).Items[0].Id);
        }
        Assert.Equal((short)2, await app.ScalarAsync<short>("SELECT delivery FROM posts WHERE id = $1", long.Parse(post.Id)));
    }

    [Fact]
    public async Task Retried_batch_adds_nothing_twice()
    {
        var author = await app.CreateUserAsync("author");
        var follower = await app.CreateUserAsync("fan");
        await follower.FollowAsync(author);
        await follower.FeedPageAsync();
        var post = await author.PostAsync("only once");
        await app.DrainAsync();
        var before = await Feeds.GetAllAsync(follower.Id);
        var outboxId = await app.ScalarAsync<long>("SELECT id FROM outbox WHERE post_id = $1", long.Parse(post.Id));

        // The same batch again, as Hangfire would run it after a worker died mid-batch.
        using (var scope = app.Services.CreateScope())
        {
            var batch = ActivatorUtilities.CreateInstance<FanOutBatchJob>(scope.ServiceProvider);
            await app.ExecuteAsync("UPDATE outbox SET completed_at = NULL WHERE id = $1", outboxId);
            await batch.RunAsync(long.Parse(post.Id), outboxId, 1, 0, 0, long.MaxValue, CancellationToken.None);
            await batch.RunAsync(long.Parse(post.Id), outboxId, 1, 0, 0, long.MaxValue, CancellationToken.None);
        }

        var after = await Feeds.GetAllAsync(follower.Id);
        Assert.Equal(before, after);
        Assert.Single(after, id => id == long.Parse(post.Id));
        Assert.Single(await follower.WholeFeedAsync(), p => p.Id == post.Id);
    }

    [Fact]
    public async Task Same_batch_run_twice_at_once_adds_each_post_once()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, FeedApp.BatchSize);
        var (postId, outboxId) = await app.InsertUnpublishedPostAsync(author.Id);
        // Planned as FanOutPostJob would: generation 1, one batch covering every follower.
        await app.ExecuteAsync("UPDATE posts SET delivery = 1 WHERE id = $1", postId);
        await app.ExecuteAsync("UPDATE outbox SET generation = 1, batches_total = 1 WHERE id = $1", outboxId);

        // Two workers got the same batch (a relay duplicate, or Hangfire's invisibility timeout ran out).
        await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            using var scope = app.Services.CreateScope();
            var batch = ActivatorUtilities.CreateInstance<FanOutBatchJob>(scope.ServiceProvider);
            await batch.RunAsync(postId, outboxId, 1, 0, 0, long.MaxValue, CancellationToken.None);
        })));

        foreach (var fan in fans)
        {
            Assert.Equal(new[] { postId }, await Feeds.GetAllAsync(fan.Id));
            Assert.Single(await fan.WholeFeedAsync(), p => p.Id == postId.ToString());
        }
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1", outboxId));
        Assert.True(await app.ScalarAsync<bool>("SELECT completed_at IS NOT NULL FROM outbox WHERE id = $1", outboxId));
    }

    [Fact]
    public async Task Same_post_fanned_out_twice_at_once_reaches_each_follower_once()
    {
        var author = await app.CreateUserAsync("author");
        var fans = await app.CreateFansAsync(author, FeedApp.BatchSize * 2 + 2);
        var (postId, outboxId) = await app.InsertUnpublishedPostAsync(author.Id);

        // Two runs of the job start together, and both wait for the post row while a third run's
        // decision (pushed) is being committed: the worst interleaving of the once-only decision.
        var decision = await app.Postgres.OpenConnectionAsync();
        var tx = await decision.BeginTransactionAsync();
        await using (var decide = new Npgsql.NpgsqlCommand("UPDATE posts SET delivery = 1 WHERE id = $1 AND delivery = 0", decision, tx))
        {
            decide.Parameters.Add(new Npgsql.NpgsqlParameter { Value = postId });
            await decide.ExecuteNonQueryAsync();
        }
        var runs = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            using var scope = app.Services.CreateScope();
            var job = ActivatorUtilities.CreateInstance<FanOutPostJob>(scope.ServiceProvider);
            await job.RunAsync(postId, outboxId, CancellationToken.None);
        })).ToList();
        await app.WaitForLockWaitersAsync(2);
        await tx.CommitAsync();
        await decision.DisposeAsync();
        await Task.WhenAll(runs);
        await app.DrainAsync();

        foreach (var fan in fans)
        {
            Assert.Equal(new[] { postId }, await Feeds.GetAllAsync(fan.Id));
            Assert.Single(await fan.WholeFeedAsync(), p => p.Id == postId.ToString());
        }
        // Each run planned its own generation; the row completed when every batch of the newest one had run.
        Assert.Equal(2, await app.ScalarAsync<int>("SELECT generation FROM outbox WHERE id = $1", outboxId));
        Assert.Equal(
            await app.ScalarAsync<int>("SELECT batches_total FROM outbox WHERE id = $1", outboxId),
            (int)await app.ScalarAsync<long>("SELECT count(*) FROM fan_out_batches WHERE outbox_id = $1 AND generation = 2", outboxId));
        Assert.Equal(3, await app.ScalarAsync<int>("SELECT batches_total FROM outbox WHERE id = $1", outboxId));
    }

    [Fact]
    public async Task Post_with_a_lower_id_that_arrives_late_lands_in_order()
    {
        var author = await app.CreateUserAsync("author");
        var follower = await app.CreateUserAsync("fan");
        await follower.FollowAsync(author);
        await follower.FeedPageAsync();
        var first = await author.PostAsync("first");
        var second = await author.PostAsync("second");
        var third = await author.PostAsync("third");
        await app.DrainAsync();

        // The middle post's push is lost and arrives after the newer one.
        await app.RedisDb.SortedSetRemoveAsync(FeedStore.Key(follower.Id), long.Parse(second.Id));
        Assert.Equal(2, await Feeds.PushAsync([follower.Id, follower.Id], long.Parse(second.Id)));

        Assert.Equal(
            new[] { long.Parse(third.Id), long.Parse(second.Id), long.Parse(first.Id) },
            await Feeds.GetAllAsync(follower.Id));
    }

    [Fact]
    public async Task Push_never_creates_a_feed_that_does_not_exist()
    {
        var author = await app.CreateUserAsync("author");
        var follower = await app.CreateUserAsync("fan");
        await follower.FollowAsync(author);
        var older = await author.PostAsync("before the feed existed");
        await app.DrainAsync();
        Assert.False(await Feeds.ExistsAsync(follower.Id));

        // The first read builds the whole feed from Postgres, including the post whose push was skipped.
        var page = await follower.FeedPageAsync();
        Assert.Equal(older.Id, page.Items[0].Id);
    }

    [Fact]
    public async Task Relay_enqueues_outbox_work_whose_enqueue_was_lost()
    {
        var author = await app.CreateUserAsync("author");
        var follower = await app.CreateUserAsync("fan");
        await follower.FollowAsync(author);
        await follower.FeedPageAsync();

        // A post committed by a process that died before enqueuing its fan-out.
        var postId = await app.ScalarAsync<long>(
            "INSERT INTO posts (author_id, body) VALUES ($1, 'orphan') RETURNING id", author.Id);
        await app.ExecuteAsync(
            "INSERT INTO outbox (kind, post_id, next_attempt_at) VALUES (1, $1, now())", postId);
        await app.DrainAsync();

        Assert.Contains(postId, await Feeds.GetAllAsync(follower.Id));
        Assert.True(await app.ScalarAsync<int>("SELECT attempts FROM outbox WHERE post_id = $1", postId) >= 1);
    }
}
