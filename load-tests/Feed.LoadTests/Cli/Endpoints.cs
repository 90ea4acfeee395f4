namespace Feed.LoadTests.Cli;

/// <summary>Where the service and its stores are. Shared by every command.</summary>
/// <param name="ServiceUrls">The service's base addresses: one, or several API processes that requests go to in turn.</param>
/// <param name="Postgres">Npgsql connection string of the service's database.</param>
/// <param name="Redis">StackExchange.Redis configuration of the service's Redis (feeds live there).</param>
public sealed record Endpoints(IReadOnlyList<Uri> ServiceUrls, string Postgres, string Redis)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
    public const string DefaultPostgres = "Host=127.0.0.1;Port=55432;Database=feed;Username=feed;Password=feed";
    public const string DefaultRedis = "127.0.0.1:56379";

    public static string Help => $"""

        Connections:
          --url URL[,URL...]        the service; several API processes are used in turn ({DefaultUrl})
          --postgres CONNSTRING     the service's database     ({DefaultPostgres})
          --redis CONFIG            the service's Redis        ({DefaultRedis})
        """;

    /// <summary>The addresses for reports.</summary>
    public string Describe() => string.Join(", ", ServiceUrls);

    public static Endpoints From(CommandLine cl)
    {
        var urls = new List<Uri>();
        foreach (var url in cl.String("url", DefaultUrl).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new UsageException($"--url must be http(s) addresses separated by commas, not '{url}'.");
            }
            urls.Add(uri);
        }
        if (urls.Count == 0)
        {
            throw new UsageException("--url needs at least one address.");
        }
        return new Endpoints(urls, cl.String("postgres", DefaultPostgres), cl.String("redis", DefaultRedis));
    }
}
