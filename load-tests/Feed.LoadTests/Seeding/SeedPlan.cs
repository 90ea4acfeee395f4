using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Seeding;

/// <summary>Everything to load, generated up front from the seed: the graph, when users joined, and the posts.</summary>
public sealed class SeedPlan
{
    /// <summary>Initial posts are spread over this much time before now.</summary>
    public static readonly TimeSpan PostHistory = TimeSpan.FromDays(7);

    /// <summary>Users joined between two years and <see cref="PostHistory"/> ago.</summary>
    private static readonly TimeSpan OldestAccount = TimeSpan.FromDays(730);

    private const int MaxPostsPerUser = 200;

    private SeedPlan(SocialGraph graph, DateTime now, DateTime[] joinedAt, int[] postAuthors, DateTime[] postedAt)
    {
        Graph = graph;
        Now = now;
        JoinedAt = joinedAt;
        PostAuthors = postAuthors;
        PostedAt = postedAt;
    }

    public SocialGraph Graph { get; }

    /// <summary>The seeding moment (UTC); every user's last feed read is set to it, so all count as active.</summary>
    public DateTime Now { get; }

    /// <summary>Per user index, ascending: lower indices (and so lower ids) joined earlier.</summary>
    public DateTime[] JoinedAt { get; }

    /// <summary>Author index of each post, oldest post first (ids are assigned in this order).</summary>
    public int[] PostAuthors { get; }

    public DateTime[] PostedAt { get; }

    public static SeedPlan Create(SeedSettings settings, Random random)
    {
        var graph = GraphGenerator.Generate(settings, random);
        var now = DateTime.UtcNow;

        var joinedAt = new DateTime[settings.Users];
        var span = OldestAccount - PostHistory;
        for (var u = 0; u < joinedAt.Length; u++)
        {
            joinedAt[u] = now - OldestAccount + span * random.NextDouble();
        }
        Array.Sort(joinedAt);

        // Exponentially distributed post counts: many users post little, a few a lot.
        var posts = new List<(long Ticks, int Author)>();
        for (var u = 0; u < settings.Users; u++)
        {
            var count = (int)Math.Min(MaxPostsPerUser, Math.Round(-Math.Log(1 - random.NextDouble()) * settings.PostsPerUser));
            for (var k = 0; k < count; k++)
            {
                posts.Add(((now - PostHistory * random.NextDouble()).Ticks, u));
            }
        }
        posts.Sort();
        return new SeedPlan(
            graph, now, joinedAt,
            [.. posts.Select(p => p.Author)],
            [.. posts.Select(p => new DateTime(p.Ticks, DateTimeKind.Utc))]);
    }

    public string Describe() => $"{Graph.Describe()}\n  posts: {Format.Count(PostAuthors.Length)} over the last {PostHistory.TotalDays:0} days";
}
