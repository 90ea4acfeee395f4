using System.Collections.Concurrent;

namespace Feed.LoadTests.Driver;

/// <summary>
/// Bearer tokens minted through <c>POST /v1/auth/dev-token</c> and kept in memory for the whole
/// process. Scenarios fetch theirs before the load starts: a step that had to mint a token would
/// add that request to its measured latency, so <see cref="For"/> refuses users not fetched.
/// </summary>
public sealed class TokenCache(FeedApiClient api)
{
    private readonly ConcurrentDictionary<long, string> _tokens = new();

    public int Count => _tokens.Count;

    public async Task FetchAsync(IEnumerable<long> userIds, int concurrency, CancellationToken ct)
    {
        var missing = userIds.Distinct().Where(id => !_tokens.ContainsKey(id)).ToList();
        await Parallel.ForEachAsync(missing, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (userId, token) => _tokens[userId] = await api.CreateDevTokenAsync(userId, token));
    }

    public string For(long userId) => _tokens.TryGetValue(userId, out var token)
        ? token
        : throw new InvalidOperationException($"No token was fetched for user {userId} before the load started.");
}
