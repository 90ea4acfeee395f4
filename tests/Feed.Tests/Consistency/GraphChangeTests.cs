using System.Net.Http.Json;
using Feed.Feeds;
using Feed.Follows;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Consistency;

/// <summary>Every graph change keeps every feed right: follows, unfollows, celebrity transitions, inactivity.</summary>
[Collection(AppCollection.Name)]
public sealed class GraphChangeTests(FeedApp app)
{
    private FeedStore Feeds => app.Services.GetRequiredService<FeedStore>();

    [Fact]
    public async Task Follow_backfills_the_followees_recent_posts_into_the_stored_feed()
    {
        var reader = await app.CreateUserAsync("reader");
        await reader.FeedPageAsync();
        var author = await app.CreateUserAsync("author");
        var posts = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            posts.Add(long.Parse((await author.PostAsync($"earlier {i}")).Id));
        }
        await app.DrainAsync();
        Assert.Empty(await Feeds.GetAllAsync(reader.Id));

        await reader.FollowAsync(author);
        await app.DrainAsync();

        posts.Reverse();
        Assert.Equal(posts, await Feeds.GetAllAsync(reader.Id));
        Assert.Equal(posts, (await reader.WholeFeedAsync()).Select(p => long.Parse(p.Id)));
    }

    [Fact]
    public async Task Follow_backfill_copies_at_most_the_configured_number_of_posts()
    {
        var reader = await app.CreateUserAsync("reader");
        await reader.FeedPageAsync();
        var author = await app.CreateUserAsync("prolific");
        await app.ExecuteAsync(
            "INSERT INTO posts (author_id, body, delivery) SELECT $1, 'p' || g, 1 FROM generate_series(1, $2) g",
            author.Id, FeedApp.FollowBackfillCount + 5);

        await reader.FollowAsync(author);
        await app.DrainAsync();

        var newest = await app.ScalarAsync<long[]>(
            "SELECT array_agg(id ORDER BY id DESC) FROM (SELECT id FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT $2) t",
            author.Id, FeedApp.FollowBackfillCount);
        Assert.Equal(newest, await Feeds.GetAllAsync(reader.Id));
    }

    [Fact]
    public async Task Unfollow_removes_the_followees_posts_from_the_stored_feed_in_the_background()
    {
        var reader = await app.CreateUserAsync("reader");
        var kept = await app.CreateUserAsync("kept");
        var dropped = await app.CreateUserAsync("dropped");
        await reader.FollowAsync(kept);
        await reader.FollowAsync(dropped);
        await reader.FeedPageAsync();
        var keep = await kept.PostAsync("stays");
        await dropped.PostAsync("goes");
        await dropped.PostAsync("goes too");
        await app.DrainAsync();
        Assert.Equal(3, (await Feeds.GetAllAsync(reader.Id)).Length);

        await reader.UnfollowAsync(dropped);
        Assert.Equal([keep.Id], (await reader.FeedPageAsync()).Items.Select(p => p.Id));
        await app.DrainAsync();

        Assert.Equal([long.Parse(keep.Id)], await Feeds.GetAllAsync(reader.Id));
    }

    [Fact]
    public async Task Follow_unfollow_follow_converges_to_following_whatever_order_the_jobs_run_in()
    {
        var reader = await app.CreateUserAsync("reader");
        var author = await app.CreateUserAsync("author");
        await reader.FeedPageAsync();
        var post = await author.PostAsync("still here");
        await app.DrainAsync();

        // Three changes in a row; the relay and the fast path race each other's jobs.
        await reader.FollowAsync(author);
        await reader.UnfollowAsync(author);
        await reader.FollowAsync(author);
        await app.DrainAsync();

        Assert.Equal([long.Parse(post.Id)], await Feeds.GetAllAsync(reader.Id));
        Assert.Equal([post.Id], (await reader.FeedPageAsync()).Items.Select(p => p.Id));
    }

    [Fact]
    public async Task Celebrity_transitions_lose_and_duplicate_nothing()
    {
        var author = await app.CreateUserAsync("rising");
        var fans = await app.CreateFansAsync(author, FeedApp.CelebrityThreshold - 1);
        var pushed = await author.PostAsync("before fame");
        await app.DrainAsync();

        // Upward: the threshold-th follower makes a celebrity; new posts are merged, not pushed.
        fans.AddRange(await app.CreateFansAsync(author, 1));
        Assert.True((await fans[0].ProfileAsync(author.Id)).IsCelebrity);
        var merged = await author.PostAsync("famous");
        await app.DrainAsync();
        Assert.DoesNotContain(long.Parse(merged.Id), await Feeds.GetAllAsync(fans[0].Id));
        await AssertEveryFanSeesAsync(fans, merged, pushed);

        // Inside the hysteresis band nothing changes.
        await fans[^1].UnfollowAsync(author);
        fans.RemoveAt(fans.Count - 1);
        Assert.True((await fans[0].ProfileAsync(author.Id)).IsCelebrity);

        // Downward: below the lower mark the author is ordinary again; their merged posts are pushed.
        while (fans.Count >= FeedApp.CelebrityLowerMark)
        {
            await fans[^1].UnfollowAsync(author);
            fans.RemoveAt(fans.Count - 1);
        }
        Assert.False((await fans[0].ProfileAsync(author.Id)).IsCelebrity);
        await AssertEveryFanSeesAsync(fans, merged, pushed); // at once: still merged until pushed
        await app.DrainAsync();
        Assert.False(await app.ScalarAsync<bool>("SELECT merge_timeline FROM users WHERE id = $1", author.Id));
        var again = await author.PostAsync("ordinary again");
        await app.DrainAsync();
        foreach (var fan in fans)
        {
            Assert.Equal(
                new[] { long.Parse(again.Id), long.Parse(merged.Id), long.Parse(pushed.Id) },
                await Feeds.GetAllAsync(fan.Id));
        }
        await AssertEveryFanSeesAsync(fans, again, merged, pushed);
    }

    [Fact]
    public async Task Deleted_celebrity_post_leaves_every_read_at_once()
    {
        var celebrity = await app.CreateUserAsync("star");
        var fans = await app.CreateFansAsync(celebrity, FeedApp.CelebrityThreshold);
        var kept = await celebrity.PostAsync("kept");
        var gone = await celebrity.PostAsync("gone");
        await app.DrainAsync();
        await AssertEveryFanSeesAsync(fans.Take(3), gone, kept);

        Assert.Equal(System.Net.HttpStatusCode.NoContent, (await celebrity.Client.DeleteAsync($"/v1/posts/{gone.Id}")).StatusCode);

        // No waiting: the merge, the author's timeline, the post cache and the author's own feed drop it.
        await AssertEveryFanSeesAsync(fans.Take(3), kept);
        Assert.Equal([kept.Id], (await celebrity.FeedPageAsync()).Items.Select(p => p.Id));
        var posts = await fans[0].Client.GetFromJsonAsync<PageDto>($"/v1/users/{celebrity.Id}/posts");
        Assert.Equal([kept.Id], posts!.Items.Select(p => p.Id));
        Assert.Equal("-", (string?)await app.RedisDb.StringGetAsync(PostCache.Key(long.Parse(gone.Id))));
        Assert.Null(await app.RedisDb.SortedSetScoreAsync(AuthorTimelineStore.Key(celebrity.Id), long.Parse(gone.Id)));
    }

    [Fact]
    public async Task Reconciliation_repairs_counts_and_celebrity_status_from_the_follows_table()
    {
        var author = await app.CreateUserAsync("miscounted");
        var fans = await app.CreateFansAsync(author, 2);
        var post = await author.PostAsync("hello");
        await app.DrainAsync();
        // A bad manual fix left the author a celebrity with a made-up count.
        await app.ExecuteAsync(
            "UPDATE users SET follower_count = 5000, following_count = 7, is_celebrity = true, merge_timeline = true WHERE id = $1", author.Id);

        using (var scope = app.Services.CreateScope())
        {
            await ActivatorUtilities.CreateInstance<ReconcileFollowCountsJob>(scope.ServiceProvider).RunAsync(CancellationToken.None);
        }
        await app.DrainAsync();

        var profile = await fans[0].ProfileAsync(author.Id);
        Assert.Equal(2, profile.FollowerCount);
        Assert.Equal(0, profile.FollowingCount);
        Assert.False(profile.IsCelebrity);
        Assert.False(await app.ScalarAsync<bool>("SELECT merge_timeline FROM users WHERE id = $1", author.Id));
        await AssertEveryFanSeesAsync(fans, post);
    }

    [Fact]
    public async Task Inactive_followers_are_skipped_and_their_first_read_is_still_right()
    {
        var author = await app.CreateUserAsync("author");
        var active = await app.CreateFansAsync(author, 1);
        var idle = await app.CreateFansAsync(author, 1);
        await app.DrainAsync(); // the follows' backfills are done
        // Fifteen days pass for the idle reader; a feed kept artificially alive shows fan-out skips them.
        await app.ExecuteAsync("UPDATE users SET last_feed_read_at = now() - interval '15 days' WHERE id = $1", idle[0].Id);
        await app.Services.GetRequiredService<ReaderGraphCache>().InvalidateAsync(idle[0].Id); // its cached copy expired long ago

        var post = await author.PostAsync("while you were away");
        await app.DrainAsync();

        Assert.Contains(long.Parse(post.Id), await Feeds.GetAllAsync(active[0].Id));
        Assert.DoesNotContain(long.Parse(post.Id), await Feeds.GetAllAsync(idle[0].Id));

        // In reality the idle feed expired with its TTL; the returning reader's feed is rebuilt.
        await Feeds.DeleteAsync(idle[0].Id);
        Assert.Equal([post.Id], (await idle[0].FeedPageAsync()).Items.Select(p => p.Id));
        var recorded = await app.ScalarAsync<DateTime>("SELECT last_feed_read_at FROM users WHERE id = $1", idle[0].Id);
        Assert.True(recorded > DateTime.UtcNow.AddMinutes(-5));
        var next = await author.PostAsync("welcome back");
        await app.DrainAsync();
        Assert.Contains(long.Parse(next.Id), await Feeds.GetAllAsync(idle[0].Id));
    }

    [Fact]
    public async Task Feed_ttl_is_the_inactivity_period()
    {
        var reader = await app.CreateUserAsync("ttl");
        await reader.FeedPageAsync();
        var ttl = await app.RedisDb.KeyTimeToLiveAsync(FeedStore.Key(reader.Id));
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, TimeSpan.FromDays(13.9), TimeSpan.FromDays(14));
    }

    private static async Task AssertEveryFanSeesAsync(IEnumerable<TestUser> fans, params PostDto[] expected)
    {
        foreach (var fan in fans)
        {
            Assert.Equal(expected.Select(p => p.Id), (await fan.WholeFeedAsync()).Select(p => p.Id));
        }
    }
}
