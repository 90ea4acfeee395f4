using Feed.LoadTests.Driver;
using Npgsql;
using StackExchange.Redis;

namespace Feed.LoadTests.Scenarios;

/// <summary>What every scenario may use: the API, tokens, the stores, the seeded users and the settings.</summary>
/// <param name="ActiveUsers">Ordinary users the read and write scenarios act as.</param>
public sealed record ScenarioContext(
    RunSettings Settings,
    FeedApiClient Api,
    TokenCache Tokens,
    NpgsqlDataSource Postgres,
    IConnectionMultiplexer Redis,
    Population Population,
    long[] ActiveUsers,
    TextWriter Console)
{
    /// <summary>Concurrent requests used to mint tokens before a scenario starts.</summary>
    public const int TokenConcurrency = 16;

    /// <summary>A random element; thread-safe.</summary>
    public static long Pick(long[] ids) => ids[Random.Shared.Next(ids.Length)];
}
