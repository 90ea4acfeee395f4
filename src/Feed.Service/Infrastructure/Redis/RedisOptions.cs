using System.ComponentModel.DataAnnotations;

namespace Feed.Infrastructure.Redis;

/// <summary>Where Redis is. Bound from the <c>Redis</c> configuration section.</summary>
public sealed class RedisOptions
{
    public const string Section = "Redis";

    /// <summary>A StackExchange.Redis configuration string.</summary>
    [Required]
    public string Configuration { get; set; } = "127.0.0.1:56379";

    /// <summary>Prefix of Hangfire's keys; the braces keep them in one Redis Cluster slot.</summary>
    [Required]
    public string HangfirePrefix { get; set; } = "{hangfire}:";
}
