using StackExchange.Redis;

namespace Feed.Infrastructure.Redis;

/// <summary>
/// Whether the service's Redis is a cluster. On a standalone Redis (or a primary with replicas) any
/// keys may share a command, so hot paths batch reads of many keys into one MGET; on a cluster they
/// send one command per key, each to its slot's node.
/// </summary>
public sealed class RedisTopology(IConnectionMultiplexer redis)
{
    private readonly Lazy<bool> _cluster = new(() => redis.GetServers().Any(s => s.ServerType == ServerType.Cluster));

    /// <summary>True when commands must not mix keys of different hash slots.</summary>
    public bool IsCluster => _cluster.Value;
}
