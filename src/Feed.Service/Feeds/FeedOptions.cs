using System.ComponentModel.DataAnnotations;

namespace Feed.Feeds;

/// <summary>Sizes and lifetimes of the Redis feed structures. Bound from the <c>Feeds</c> configuration section.</summary>
public sealed class FeedOptions
{
    public const string Section = "Feeds";

    /// <summary>Entries kept per home feed (and the deepest a reader can page).</summary>
    [Range(10, 10_000)]
    public int FeedCap { get; set; } = 800;

    /// <summary>Entries kept per author timeline (<c>tl:{authorId}</c>).</summary>
    [Range(10, 10_000)]
    public int TimelineCap { get; set; } = 800;

    /// <summary>How often a reader's activity is written to Postgres (and their feed's lifetime renewed).</summary>
    public TimeSpan ActivityRefreshInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Lifetime of a cached post body.</summary>
    public TimeSpan PostCacheTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Lifetime of a cached reader graph (<c>rd:{userId}</c>); changes invalidate it sooner.</summary>
    public TimeSpan ReaderGraphTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Lifetime of an author timeline nobody has read or written.</summary>
    public TimeSpan TimelineTtl { get; set; } = TimeSpan.FromDays(7);
}
