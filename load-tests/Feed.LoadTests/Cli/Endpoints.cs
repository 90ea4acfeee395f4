namespace Feed.LoadTests.Cli;

/// <summary>Where the service and its stores are. Shared by every command.</summary>
/// <param name="ServiceUrl">The service's base address.</param>
/// <param name="Postgres">Npgsql connection string of the service's database.</param>
/// <param name="Redis">StackExchange.Redis configuration of the service's Redis (feeds live there).</param>
public sealed record Endpoints(Uri ServiceUrl, string Postgres, string Redis)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";
    public const string DefaultPostgres = "Host=127.0.0.1;Port=55432;Database=feed;Username=feed;Password=feed";
    public const string DefaultRedis = "127.0.0.1:56379";

    public static string Help => $"""

        Connections:
          --url URL                 the service                ({DefaultUrl})
          --postgres CONNSTRING     the service's database     ({DefaultPostgres})
          --redis CONFIG            the service's Redis        ({DefaultRedis})
        """;

    public static Endpoints From(CommandLine cl)
    {
        var url = cl.String("url", DefaultUrl);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"--url must be an http(s) address, not '{url}'.");
        }
        return new Endpoints(uri, cl.String("postgres", DefaultPostgres), cl.String("redis", DefaultRedis));
    }
}
