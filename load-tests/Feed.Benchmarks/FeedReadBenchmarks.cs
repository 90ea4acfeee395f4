using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Feed.Feeds;
using Feed.Infrastructure.Redis;
using Feed.Posts;

namespace Feed.Benchmarks;

/// <summary>
/// The CPU work of one feed page: the k-way merge of the pushed feed with followed celebrities'
/// and the reader's own timelines, decoding cached posts, and serialising the page.
/// </summary>
[MemoryDiagnoser]
public class FeedReadBenchmarks
{
    private const int PageSize = 20;

    private IdRange[] _slices = [];
    private byte[][] _cachedPosts = [];
    private PostPage _page = null!;

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
            .Select(i => new CachedPost(newest - i, 42 + i, $"Post number {i}, with a body of realistic length for a feed item. 👋", DateTimeOffset.UtcNow))
            .ToList();
        _cachedPosts = [.. posts.Select(p => JsonSerializer.SerializeToUtf8Bytes(p, CachedPost.Json))];
        _page = new PostPage(
            [.. posts.Select(p => new PostResponse(p.Id.ToString(), p.AuthorId.ToString(), p.Body, p.CreatedAt))], posts[^1].Id.ToString());
    }

    [Benchmark(Description = "k-way merge of a page's sources")]
    public int Merge()
    {
        var horizon = _slices.Max(s => s.Ids[^1]);
        return HomeFeedReader.MergeDescending(_slices, horizon).Count;
    }

    [Benchmark(Description = "decode 20 cached posts")]
    public long Hydrate()
    {
        var sum = 0L;
        foreach (var bytes in _cachedPosts)
        {
            sum += JsonSerializer.Deserialize<CachedPost>(bytes, CachedPost.Json)!.Id;
        }
        return sum;
    }

    [Benchmark(Description = "serialise a 20-item page")]
    public int Serialize() => JsonSerializer.SerializeToUtf8Bytes(_page, JsonSerializerOptions.Web).Length;
}
