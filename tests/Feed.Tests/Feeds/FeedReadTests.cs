using System.Globalization;
using System.Net;
using Feed.Feeds;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Feed.Tests.Feeds;

[Collection(AppCollection.Name)]
public sealed class FeedReadTests(FeedApp app)
{
    private FeedStore Feeds => app.Services.GetRequiredService<FeedStore>();

    [Fact]
    public async Task Cached_reader_graph_answers_follows_whatever_order_its_entry_was_written_in()
    {
        // A graph handed to the cache in any order is stored, and read back, in ascending order.
        var graphs = app.Services.GetRequiredService<ReaderGraphCache>();
        var userId = (await app.CreateUserAsync("graph")).Id;
        var (_, generation, version) = await graphs.GetAsync(userId);
        await graphs.SetAsync(userId, new ReaderGraph(generation, DateTimeOffset.UtcNow, [900, 12, 5_000_000_000, 7, 31], [31]) { Version = version });

        var (cached, _, _) = await graphs.GetAsync(userId);

        Assert.NotNull(cached);
        Assert.Equal([7L, 12, 31, 900, 5_000_000_000], cached.Following);
        Assert.All(new long[] { 7, 12, 31, 900, 5_000_000_000 }, id => Assert.True(cached.Follows(id), $"follows {id}"));
        Assert.All(new long[] { 0, 8, 30, 901, 5_000_000_001 }, id => Assert.False(cached.Follows(id), $"does not follow {id}"));
        Assert.Equal([31L], cached.Merged);
        await graphs.InvalidateAsync(userId);
    }

    [Fact]
    public async Task Reader_graph_cached_by_a_read_that_started_before_an_invalidation_is_not_used()
    {
        // A read loads the graph (stamped with the counters it read first), a follow invalidates, and
        // only then does the slow read cache what it loaded: that entry must never be served.
        var graphs = app.Services.GetRequiredService<ReaderGraphCache>();
        var userId = (await app.CreateUserAsync("slowread")).Id;
        var (_, generation, version) = await graphs.GetAsync(userId);

        await graphs.InvalidateAsync(userId);
        await graphs.SetAsync(userId, new ReaderGraph(generation, DateTimeOffset.UtcNow, [1, 2], []) { Version = version });
        var (stale, _, now) = await graphs.GetAsync(userId);

        Assert.Null(stale);
        Assert.Equal(version + 1, now);
        await graphs.SetAsync(userId, new ReaderGraph(generation, DateTimeOffset.UtcNow, [1, 2, 3], []) { Version = now });
        var (fresh, _, _) = await graphs.GetAsync(userId);
        Assert.Equal([1L, 2, 3], fresh!.Following);
    }

    [Fact]
    public async Task Reader_graphs_cached_together_expire_spread_over_the_last_quarter_of_their_lifetime()
    {
        // Entries cached in one burst (a warm-up, a generation bump) must not all expire in the same
        // second: each gets a lifetime between 3/4 and all of the configured one.
        var graphs = app.Services.GetRequiredService<ReaderGraphCache>();
        var ttl = app.Services.GetRequiredService<IOptions<FeedOptions>>().Value.ReaderGraphTtl;
        var lifetimes = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            var userId = (await app.CreateUserAsync("ttl")).Id;
            await graphs.InvalidateAsync(userId); // so that its counter exists
            var (_, generation, version) = await graphs.GetAsync(userId);
            await graphs.SetAsync(userId, new ReaderGraph(generation, DateTimeOffset.UtcNow, [1], []) { Version = version });
            lifetimes.Add((long)(await app.RedisDb.KeyTimeToLiveAsync(ReaderGraphCache.Key(userId)))!.Value.TotalMilliseconds);
            // The invalidation counter outlives the entry, so no older entry can meet a restarted counter.
            Assert.True(await app.RedisDb.KeyTimeToLiveAsync(ReaderGraphCache.VersionKey(userId)) > TimeSpan.FromMilliseconds(lifetimes[^1]));
        }

        Assert.All(lifetimes, ms => Assert.InRange(ms, (long)(ttl.TotalMilliseconds * 0.75) - 5_000, (long)ttl.TotalMilliseconds));
        // A fixed lifetime would give 20 values within the few milliseconds the loop took.
        Assert.True(lifetimes.Max() - lifetimes.Min() > ttl.TotalMilliseconds / 20, $"lifetimes spread: {string.Join(", ", lifetimes)}");
    }

    [Fact]
    public async Task Paging_returns_every_item_exactly_once_newest_first()
    {
        var reader = await app.CreateUserAsync("reader");
        var ordinary = await app.CreateUserAsync("plain");
        var other = await app.CreateUserAsync("plain");
        var celebrity = await MakeCelebrityAsync();
        foreach (var followee in new[] { ordinary, other, celebrity })
        {
            await reader.FollowAsync(followee);
        }
        await reader.FeedPageAsync();

        var expected = new List<string>();
        for (var round = 0; round < 6; round++)
        {
            foreach (var author in new[] { ordinary, reader, celebrity, other })
            {
                expected.Add((await author.PostAsync($"post {round} by {author.Handle}")).Id);
            }
        }
        await app.DrainAsync();
        expected.Reverse();

        foreach (var pageSize in new[] { 1, 4, 7, 100 })
        {
            var items = await reader.WholeFeedAsync(pageSize);
            Assert.Equal(expected, items.Select(i => i.Id).ToList());
        }
    }

    [Fact]
    public async Task Deleted_redis_feed_is_rebuilt_and_equals_what_it_was()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        var b = await app.CreateUserAsync("b");
        await reader.FollowAsync(a);
        await reader.FollowAsync(b);
        await reader.FeedPageAsync();
        for (var i = 0; i < 5; i++)
        {
            await a.PostAsync($"a{i}");
            await b.PostAsync($"b{i}");
        }
        await app.DrainAsync();
        var stored = await Feeds.GetAllAsync(reader.Id);
        var read = await reader.WholeFeedAsync();
        Assert.Equal(10, stored.Length);

        await Feeds.DeleteAsync(reader.Id);
        var reread = await reader.WholeFeedAsync();

        Assert.Equal(read.Select(p => p.Id), reread.Select(p => p.Id));
        Assert.Equal(stored, await Feeds.GetAllAsync(reader.Id));
    }

    [Fact]
    public async Task Rebuild_after_a_flushed_redis_serves_the_same_feed()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        var celebrity = await MakeCelebrityAsync();
        await reader.FollowAsync(a);
        await reader.FollowAsync(celebrity);
        await reader.FeedPageAsync();
        await a.PostAsync("ordinary");
        await celebrity.PostAsync("famous");
        await reader.PostAsync("mine");
        await app.DrainAsync();
        var before = await reader.WholeFeedAsync();

        // Everything derived goes: feeds, timelines and the post cache.
        await Feeds.DeleteAsync(reader.Id);
        var timelines = app.Services.GetRequiredService<AuthorTimelineStore>();
        foreach (var id in new[] { reader.Id, a.Id, celebrity.Id })
        {
            await timelines.DeleteAsync(id);
        }
        foreach (var post in before)
        {
            await app.RedisDb.KeyDeleteAsync(PostCache.Key(long.Parse(post.Id)));
        }

        var after = await reader.WholeFeedAsync();
        Assert.Equal(before, after);
        Assert.Equal(3, after.Count);
    }

    [Fact]
    public async Task Unfollowed_authors_leave_reads_at_once()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        await reader.FollowAsync(a);
        await reader.FeedPageAsync();
        await a.PostAsync("soon hidden");
        await app.DrainAsync();
        Assert.Single((await reader.FeedPageAsync()).Items);

        await reader.UnfollowAsync(a);

        Assert.Empty((await reader.FeedPageAsync()).Items);
    }

    [Fact]
    public async Task Deleted_post_leaves_reads_at_once_and_stored_feeds_in_the_background()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        await reader.FollowAsync(a);
        await reader.FeedPageAsync();
        var keep = await a.PostAsync("keep");
        var gone = await a.PostAsync("gone");
        await app.DrainAsync();

        var deleted = await a.Client.DeleteAsync($"/v1/posts/{gone.Id}");
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);

        Assert.Equal([keep.Id], (await reader.FeedPageAsync()).Items.Select(p => p.Id));
        Assert.Equal([keep.Id], (await a.FeedPageAsync()).Items.Select(p => p.Id));
        await (await a.Client.GetAsync($"/v1/posts/{gone.Id}")).AssertProblemAsync(HttpStatusCode.NotFound);
        await app.DrainAsync();
        Assert.DoesNotContain(long.Parse(gone.Id), await Feeds.GetAllAsync(reader.Id));
    }

    [Fact]
    public async Task Feed_of_a_user_who_follows_nobody_is_their_own_posts()
    {
        var loner = await app.CreateUserAsync("loner");
        Assert.Empty((await loner.FeedPageAsync()).Items);
        Assert.True(await Feeds.ExistsAsync(loner.Id));
        var post = await loner.PostAsync("talking to myself");
        var page = await loner.FeedPageAsync();
        Assert.Equal([post.Id], page.Items.Select(p => p.Id));
        Assert.Null(page.NextCursor);
    }

    [Fact]
    public async Task Feed_items_are_byte_for_byte_the_post_as_its_own_endpoint_returns_it()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        await reader.FollowAsync(a);
        await reader.FeedPageAsync();
        // Escapes, non-ASCII, an emoji (a surrogate pair), line breaks and markup.
        var tricky = await a.PostAsync("Quote \" back\\slash <b>&amp;</b> naïve 日本語 👋\n\ttabbed ' end");
        var plain = await a.PostAsync("plain");
        await app.DrainAsync();

        var response = await reader.Client.GetAsync("/v1/feed?limit=1");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var body = await response.Content.ReadAsStringAsync();
        var own = await (await reader.Client.GetAsync($"/v1/posts/{plain.Id}")).Content.ReadAsStringAsync();
        Assert.Equal($$"""{"items":[{{own}}],"nextCursor":"{{plain.Id}}"}""", body);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);

        var rest = await (await reader.Client.GetAsync($"/v1/feed?before={plain.Id}")).Content.ReadAsStringAsync();
        var trickyOwn = await (await reader.Client.GetAsync($"/v1/posts/{tricky.Id}")).Content.ReadAsStringAsync();
        Assert.Equal($$"""{"items":[{{trickyOwn}}],"nextCursor":null}""", rest);
    }

    [Fact]
    public async Task Post_cache_entries_of_the_earlier_format_are_still_served()
    {
        var reader = await app.CreateUserAsync("reader");
        var a = await app.CreateUserAsync("a");
        await reader.FollowAsync(a);
        await reader.FeedPageAsync();
        var post = await a.PostAsync("written before the upgrade");
        await app.DrainAsync();
        var id = long.Parse(post.Id);
        // Numeric ids, and a body that differs from Postgres, to prove the entry itself is served.
        await app.RedisDb.StringSetAsync(
            PostCache.Key(id), $$"""{"id":{{id}},"authorId":{{a.Id}},"body":"cached body","createdAt":"2026-01-02T03:04:05.123456+00:00"}""",
            TimeSpan.FromHours(1));

        var item = Assert.Single((await reader.FeedPageAsync()).Items);
        Assert.Equal(post.Id, item.Id);
        Assert.Equal(a.Id.ToString(CultureInfo.InvariantCulture), item.AuthorId);
        Assert.Equal("cached body", item.Body);
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, 123, 456, TimeSpan.Zero), item.CreatedAt);
        // Stored converted, with its lifetime kept.
        var stored = (string?)await app.RedisDb.StringGetAsync(PostCache.Key(id));
        Assert.Equal(
            $$"""{"id":"{{post.Id}}","authorId":"{{a.Id}}","body":"cached body","createdAt":"2026-01-02T03:04:05.123456+00:00"}""", stored);
        Assert.InRange((await app.RedisDb.KeyTimeToLiveAsync(PostCache.Key(id)))!.Value, TimeSpan.FromMinutes(59), TimeSpan.FromHours(1));
        Assert.Equal(item, Assert.Single((await reader.FeedPageAsync()).Items));

        // Deleting a post whose entry is of the earlier format tombstones it as before.
        await app.RedisDb.StringSetAsync(
            PostCache.Key(id), $$"""{"id":{{id}},"authorId":{{a.Id}},"body":"cached body","createdAt":"2026-01-02T03:04:05.123456+00:00"}""");
        Assert.Equal(HttpStatusCode.NoContent, (await a.Client.DeleteAsync($"/v1/posts/{post.Id}")).StatusCode);
        Assert.Empty((await reader.FeedPageAsync()).Items);
        Assert.Equal("-", (string?)await app.RedisDb.StringGetAsync(PostCache.Key(id)));
    }

    private async Task<TestUser> MakeCelebrityAsync()
    {
        var celebrity = await app.CreateUserAsync("celeb");
        for (var i = 0; i < FeedApp.CelebrityThreshold; i++)
        {
            var fan = await app.CreateUserAsync("fan");
            await fan.FollowAsync(celebrity);
        }
        return celebrity;
    }
}
