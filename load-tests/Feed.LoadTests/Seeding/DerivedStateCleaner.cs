using StackExchange.Redis;

namespace Feed.LoadTests.Seeding;

/// <summary>
/// Deletes what the service derived in Redis from the data that --reset removed: home feeds,
/// author timelines, cached posts and rate-limit cells. New ids never collide with old ones, so
/// this is hygiene (memory, and the next run starts from the same state), not correctness.
/// Hangfire's keys are left alone: jobs for removed outbox rows find nothing and finish.
/// </summary>
public static class DerivedStateCleaner
{
    private static readonly string[] Patterns = ["feed:*", "tl:*", "post:*", "rl:*"];

    /// <returns>How many keys were deleted.</returns>
    public static async Task<long> ClearAsync(IConnectionMultiplexer redis)
    {
        var db = redis.GetDatabase();
        var deleted = 0L;
        foreach (var server in redis.GetServers().Where(s => !s.IsReplica))
        {
            foreach (var pattern in Patterns)
            {
                var batch = new List<RedisKey>(1000);
                await foreach (var key in server.KeysAsync(db.Database, pattern, pageSize: 1000))
                {
                    batch.Add(key);
                    if (batch.Count == 1000)
                    {
                        deleted += await db.KeyDeleteAsync([.. batch]);
                        batch.Clear();
                    }
                }
                if (batch.Count > 0)
                {
                    deleted += await db.KeyDeleteAsync([.. batch]);
                }
            }
        }
        return deleted;
    }
}
