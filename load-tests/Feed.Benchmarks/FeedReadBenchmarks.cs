using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Feed.Feeds;
using Feed.Infrastructure.Redis;
using Feed.Posts;
using Microsoft.AspNetCore.Http;

namespace Feed.Benchmarks;

/// <summary>
/// The CPU work of one feed page: the k-way merge of the pushed feed with followed celebrities'
/// and the reader's own timelines, reading cached posts, and writing the page.
/// </summary>
[MemoryDiagnoser]
public class FeedReadBenchmarks
{
    private const int PageSize = 20;

    private IdRange[] _slices = [];
    private byte[][] _cachedPosts = [];
    private PostPage _page = null!;
    private FeedPage _cachedPage = null!;

    /// <summary>Timelines merged besides the pushed feed and the reader's own: 0 or 5 or 50 celebrities.</summary>
    [Params(0, 5, 50)]
    public int Celebrities { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        var sources = Celebrities + 2;
        const long newest = 245_000_000_000_000;
        _slices = [.. Enumerable.Range(0, sources).Select(_ =>
        {
            var ids = new List<long>(PageSize + 5);
            var id = newest - random.Next(1, 5_000);
            for (var i = 0; i < PageSize + 5; i++)
            {
                ids.Add(id);
                id -= random.Next(1, 50_000);
            }
            return new IdRange(true, ids, Exhausted: false);
        })];
        var posts = Enumerable.Range(0, PageSize)
            .Select(i => new PostResponse(
                (newest - i).ToString(CultureInfo.InvariantCulture), (42 + i).ToString(CultureInfo.InvariantCulture),
                $"Post number {i}, with a body of realistic length for a feed item. 👋", DateTimeOffset.UtcNow))
            .ToList();
        _cachedPosts = [.. posts.Select(p => JsonSerializer.SerializeToUtf8Bytes(p, JsonSerializerOptions.Web))];
        _page = new PostPage(posts, posts[^1].Id);
        _cachedPage = new FeedPage([.. _cachedPosts.Select(bytes => CachedPost.Parse(bytes, JsonSerializerOptions.Web))], newest - PageSize + 1);
    }

    [Benchmark(Description = "k-way merge of a page's sources")]
    public int Merge()
    {
        var horizon = _slices.Max(s => s.Ids[^1]);
        return HomeFeedReader.MergeDescending(_slices, horizon).Count;
    }

    [Benchmark(Description = "read id and author of 20 cached posts")]
    public long Hydrate()
    {
        var sum = 0L;
        foreach (var bytes in _cachedPosts)
        {
            sum += CachedPost.Parse(bytes, JsonSerializerOptions.Web).AuthorId;
        }
        return sum;
    }

    [Benchmark(Baseline = true, Description = "serialise a 20-item page (System.Text.Json)")]
    public int Serialize() => JsonSerializer.SerializeToUtf8Bytes(_page, JsonSerializerOptions.Web).Length;

    [Benchmark(Description = "write a 20-item page from the cached JSON")]
    public async Task<long> WriteCached()
    {
        var http = new DefaultHttpContext { Response = { Body = Stream.Null } };
        await new FeedPageResult(_cachedPage).ExecuteAsync(http);
        return http.Response.ContentLength ?? 0;
    }
}
