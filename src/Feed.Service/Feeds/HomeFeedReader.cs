using Feed.Infrastructure.Redis;
using Microsoft.Extensions.Options;
using Npgsql;

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
    IOptions<FeedOptions> options,
    TimeProvider clock)
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
        var reader = await LoadReaderAsync(userId, ct);
        if (reader is null)
        {
            return null;
        }
        // Activity is recorded before any rebuild, so a returning reader's feed cannot miss a post
        // that fan-out skipped while they were inactive (the rebuild query runs after this write).
        if (clock.GetUtcNow() - reader.LastFeedReadAt >= _options.ActivityRefreshInterval)
        {
            await using var touch = postgres.CreateCommand(TouchSql);
            touch.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
            await touch.ExecuteNonQueryAsync(ct);
            await feeds.TouchAsync(userId);
        }

        var sources = new List<Source> { new(userId, IsFeed: true), new(userId, IsFeed: false) };
        sources.AddRange(reader.Celebrities.Select(id => new Source(id, IsFeed: false)));

        var visibleAuthors = reader.Following;
        visibleAuthors.Add(userId);

        var cursor = before ?? long.MaxValue;
        var page = new List<CachedPost>(limit + 1);
        while (page.Count <= limit)
        {
            var want = limit + 1 - page.Count + Slack;
            var slices = await Task.WhenAll(sources.Select(s => ReadSourceAsync(s, cursor, want, ct)));

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
            var candidates = MergeDescending(slices, horizon);
            if (candidates.Count == 0)
            {
                break;
            }
            var hydrated = await posts.GetManyAsync(candidates, ct);
            foreach (var id in candidates)
            {
                if (hydrated.TryGetValue(id, out var post) && visibleAuthors.Contains(post.AuthorId))
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

    private async Task<IdRange> ReadSourceAsync(Source source, long cursor, int count, CancellationToken ct)
    {
        var range = await ReadOnceAsync(source, cursor, count);
        if (range.Exists)
        {
            return range;
        }
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

    private async Task<ReaderInfo?> LoadReaderAsync(long userId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(ReaderSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        ReaderInfo? info = null;
        while (await reader.ReadAsync(ct))
        {
            info ??= new ReaderInfo(reader.GetFieldValue<DateTimeOffset>(0), [], []);
            if (reader.IsDBNull(1))
            {
                continue;
            }
            var followee = reader.GetInt64(1);
            info.Following.Add(followee);
            if (reader.GetBoolean(2))
            {
                info.Celebrities.Add(followee);
            }
        }
        return info;
    }

    private sealed record ReaderInfo(DateTimeOffset LastFeedReadAt, HashSet<long> Following, List<long> Celebrities);

    private sealed record Source(long Id, bool IsFeed);
}

/// <summary>A page of a home feed, newest first; <paramref name="NextCursor"/> is null on the last page.</summary>
public sealed record FeedPage(IReadOnlyList<CachedPost> Items, long? NextCursor);
