using System.Globalization;
using StackExchange.Redis;

namespace Feed.LoadTests.Scenarios;

/// <summary>The service's Redis key names that the load tests read (see docs/decisions.md).</summary>
public static class RedisKeys
{
    /// <summary>A user's stored home feed: a sorted set of post ids, hash-tagged by user.</summary>
    public static RedisKey Feed(long userId) => string.Create(CultureInfo.InvariantCulture, $"feed:{{{userId}}}");
}
