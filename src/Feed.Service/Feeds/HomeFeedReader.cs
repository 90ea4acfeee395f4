using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using Npgsql;
using StackExchange.Redis;

namespace Feed.Feeds;

/// <summary>
/// Reads a page of a user's home feed: the pushed feed, the timelines of followed celebrities and
/// the reader's own timeline, k-way merged by post id, deduplicated, hydrated, and stripped of
/// deleted posts and of authors the reader no longer follows.
/// </summary>
/// <remarks>
/// Every source is read below the cursor in slices. Only ids at or above the highest last id of a
/// source that still has more are certain to be complete, so a round keeps those and the next
/// round continues below them: the page is exact however the sources interleave.
/// </remarks>
public sealed class HomeFeedReader(
    NpgsqlDataSource postgres,
    FeedStore feeds,
    AuthorTimelineStore timelines,
    PostCache posts,
    FeedRebuilder rebuilder,
    ReaderGraphCache graphs,
    IOptions<FeedOptions> options,
    TimeProvider clock,
    ILogger<HomeFeedReader> logger)
{
    // The reader, whom they follow, and whose timelines to merge (celebrities, and demoted ones until
    // their posts are pushed), in one round trip.
    private const string ReaderSql = """
        SELECT u.last_feed_read_at, f.followee_id, fu.merge_timeline
        FROM users u
        LEFT JOIN follows f ON f.follower_id = u.id
        LEFT JOIN users fu ON fu.id = f.followee_id
        WHERE u.id = $1
        """;

    private const string TouchSql = "UPDATE users SET last_feed_read_at = now() WHERE id = $1";

    /// <summary>Extra ids read per source per round, so a few filtered posts do not cost another round.</summary>
    private const int Slack = 4;

    private readonly FeedOptions _options = options.Value;

    /// <returns>The page, or null when the reader does not exist.</returns>
    public async Task<FeedPage?> ReadAsync(long userId, int limit, long? before, CancellationToken ct)
    {
        // The pushed feed and the reader's own timeline; the merged timelines (followed celebrities)
        // are read after them, only down to where the page can reach (see ReadMergedAsync).
        Source[] primary = [new(userId, IsFeed: true), new(userId, IsFeed: false)];
        var cursor = before ?? long.MaxValue;
        var want = limit + 1 + Slack;
        // The primaries' first slices do not depend on the reader's graph: they go out in the same
        // pipeline as its lookup. A missing one is rebuilt only after the read is recorded (below).
        var firstSlices = Task.WhenAll(ReadOnceAsync(primary[0], cursor, want), ReadOnceAsync(primary[1], cursor, want));

        var reader = await LoadReaderAsync(userId, ct);
        if (reader is null)
        {
            await firstSlices.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
            return null;
        }
        // Activity is recorded before any rebuild, so a returning reader's feed cannot miss a post
        // that fan-out skipped while they were inactive (the rebuild query runs after this write).
        if (clock.GetUtcNow() - reader.LastFeedReadAt >= _options.ActivityRefreshInterval)
        {
            await TouchAsync(userId, reader, ct);
        }

        var merged = reader.Merged;
        var page = new List<CachedPost>(limit + 1);
        var round = 0;
        while (page.Count <= limit)
        {
            want = limit + 1 - page.Count + Slack;
            var primarySlices = round++ == 0
                ? await firstSlices
                : await Task.WhenAll(ReadOnceAsync(primary[0], cursor, want), ReadOnceAsync(primary[1], cursor, want));
            for (var i = 0; i < primarySlices.Length; i++)
            {
                if (!primarySlices[i].Exists)
                {
                    primarySlices[i] = await RebuildAndReadAsync(primary[i], cursor, want, ct);
                }
            }
            var slices = new List<IdRange>(primarySlices.Length + merged.Count);
            slices.AddRange(primarySlices);

            // Ids at or above the horizon are complete across all sources.
            var horizon = 0L;
            var anyMore = false;
            foreach (var slice in slices)
            {
                if (!slice.Exhausted && slice.Ids.Count > 0)
                {
                    anyMore = true;
                    horizon = Math.Max(horizon, slice.Ids[^1]);
                }
            }
            // With merged timelines, the primaries' own candidates are hydrated while the merged
            // timelines are read (one round trip instead of two when, as mostly, the page holds no
            // merged post newer than them); whatever the merge adds is hydrated after.
            List<long>? early = null;
            Task<Dictionary<long, CachedPost>>? earlyPosts = null;
            if (merged.Count > 0)
            {
                early = MergeDescending(slices, horizon);
                earlyPosts = early.Count > 0 ? posts.GetManyAsync(early, ct) : null;

                // Nothing below the primaries' horizon can be on this round's page, so the merged
                // timelines are read down to it: mostly a few ids each, in one script call.
                var floor = horizon;
                foreach (var slice in await ReadMergedAsync(merged, cursor, floor, want, ct))
                {
                    slices.Add(slice);
                    if (slice.Truncated)
                    {
                        // More ids in range than read: complete only down to its last id.
                        anyMore = true;
                        horizon = Math.Max(horizon, slice.Ids[^1]);
                    }
                    else if (!slice.Exhausted)
                    {
                        anyMore = true; // complete down to the floor; older ids follow
                    }
                }
            }
            var candidates = MergeDescending(slices, horizon);
            var hydrated = earlyPosts is null ? null : await earlyPosts;
            if (candidates.Count == 0)
            {
                break;
            }
            if (hydrated is null)
            {
                hydrated = await posts.GetManyAsync(candidates, ct);
            }
            else if (candidates.Except(early!).ToList() is { Count: > 0 } rest)
            {
                foreach (var (id, post) in await posts.GetManyAsync(rest, ct))
                {
                    hydrated[id] = post;
                }
            }
            foreach (var id in candidates)
            {
                if (hydrated.TryGetValue(id, out var post) && (post.AuthorId == userId || reader.Follows(post.AuthorId)))
                {
                    page.Add(post);
                }
            }
            if (!anyMore)
            {
                break;
            }
            cursor = horizon;
        }

        if (page.Count > limit)
        {
            page.RemoveRange(limit, page.Count - limit);
            return new FeedPage(page, page[^1].Id);
        }
        return new FeedPage(page, null);
    }

    /// <summary>
    /// The merged timelines' ids in [<paramref name="floor"/>, <paramref name="cursor"/>), up to
    /// <paramref name="count"/> each; a missing timeline is rebuilt from Postgres and read again.
    /// </summary>
    private async Task<IdRange[]> ReadMergedAsync(List<long> authors, long cursor, long floor, int count, CancellationToken ct)
    {
        var slices = await timelines.ReadBoundedAsync(authors, cursor, floor, count);
        for (var i = 0; i < slices.Length; i++)
        {
            if (!slices[i].Exists)
            {
                await rebuilder.RebuildTimelineAsync(authors[i], ct);
                slices[i] = (await timelines.ReadBoundedAsync([authors[i]], cursor, floor, count))[0];
            }
        }
        return slices;
    }

    /// <summary>Rebuilds a missing source from Postgres and reads it again.</summary>
    private async Task<IdRange> RebuildAndReadAsync(Source source, long cursor, int count, CancellationToken ct)
    {
        if (source.IsFeed)
        {
            await rebuilder.RebuildHomeFeedAsync(source.Id, ct);
        }
        else
        {
            await rebuilder.RebuildTimelineAsync(source.Id, ct);
        }
        return await ReadOnceAsync(source, cursor, count);
    }

    private Task<IdRange> ReadOnceAsync(Source source, long cursor, int count) =>
        source.IsFeed ? feeds.ReadAsync(source.Id, cursor, count) : timelines.ReadAsync(source.Id, cursor, count);

    /// <summary>K-way merge of newest-first slices into distinct ids not below <paramref name="horizon"/>.</summary>
    internal static List<long> MergeDescending(IReadOnlyList<IdRange> slices, long horizon)
    {
        var queue = new PriorityQueue<(int Slice, int Index), long>(slices.Count, Comparer<long>.Create((a, b) => b.CompareTo(a)));
        for (var s = 0; s < slices.Count; s++)
        {
            if (slices[s].Ids.Count > 0)
            {
                queue.Enqueue((s, 0), slices[s].Ids[0]);
            }
        }
        var merged = new List<long>();
        var last = long.MaxValue;
        while (queue.TryDequeue(out var at, out var id))
        {
            if (id < horizon)
            {
                break;
            }
            if (id != last)
            {
                merged.Add(id);
                last = id;
            }
            var next = at.Index + 1;
            if (next < slices[at.Slice].Ids.Count)
            {
                queue.Enqueue((at.Slice, next), slices[at.Slice].Ids[next]);
            }
        }
        return merged;
    }

    /// <summary>The reader's graph from Redis, or from Postgres (then cached) when Redis has no current entry.</summary>
    private async Task<ReaderGraph?> LoadReaderAsync(long userId, CancellationToken ct)
    {
        long? generation = null;
        long version = 0;
        try
        {
            (var cached, var current, version) = await graphs.GetAsync(userId);
            if (cached is not null)
            {
                return cached;
            }
            generation = current;
        }
        catch (RedisException ex)
        {
            logger.LogDebug(ex, "Reader graph cache unavailable; reading the graph of {UserId} from Postgres", userId);
        }

        // The generation and version were read before this query: a promotion, follow or unfollow committed
        // meanwhile makes the entry stale at once, even if it is cached after the invalidation.
        await using var cmd = postgres.CreateCommand(ReaderSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
        ReaderGraph? graph = null;
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            DateTimeOffset? lastRead = null;
            var following = new List<long>();
            var merged = new List<long>();
            while (await reader.ReadAsync(ct))
            {
                lastRead ??= reader.GetFieldValue<DateTimeOffset>(0);
                if (reader.IsDBNull(1))
                {
                    continue;
                }
                var followee = reader.GetInt64(1);
                following.Add(followee);
                if (reader.GetBoolean(2))
                {
                    merged.Add(followee);
                }
            }
            if (lastRead is { } at)
            {
                long[] sorted = [.. following];
                Array.Sort(sorted);
                graph = new ReaderGraph(generation ?? -1, at, sorted, merged) { Version = version };
            }
        }
        if (graph is not null && generation is not null)
        {
            await CacheAsync(userId, graph);
        }
        return graph;
    }

    /// <summary>
    /// Records the read in Postgres and renews the feed's lifetime. Skipped (and tried again on the
    /// next read) while Postgres is unavailable: reads keep being served from Redis.
    /// </summary>
    private async Task TouchAsync(long userId, ReaderGraph reader, CancellationToken ct)
    {
        try
        {
            await using var touch = postgres.CreateCommand(TouchSql);
            touch.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
            await touch.ExecuteNonQueryAsync(ct);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Could not record the feed read of {UserId}; serving the feed anyway", userId);
            return;
        }
        await feeds.TouchAsync(userId);
        await CacheAsync(userId, reader with { LastFeedReadAt = clock.GetUtcNow() });
    }

    private async Task CacheAsync(long userId, ReaderGraph graph)
    {
        try
        {
            await graphs.SetAsync(userId, graph);
        }
        catch (RedisException ex)
        {
            logger.LogDebug(ex, "Could not cache the reader graph of {UserId}", userId);
        }
    }

    private sealed record Source(long Id, bool IsFeed);
}

/// <summary>A page of a home feed, newest first; <paramref name="NextCursor"/> is null on the last page.</summary>
public sealed record FeedPage(IReadOnlyList<CachedPost> Items, long? NextCursor);
