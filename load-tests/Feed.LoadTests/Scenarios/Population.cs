using Feed.LoadTests.Driver;
using Npgsql;

namespace Feed.LoadTests.Scenarios;

/// <summary>The seeded users as the scenarios see them: every id, the ordinary ones, and the celebrities.</summary>
public sealed class Population
{
    private Population(long[] users, long[] ordinary, IReadOnlyList<Account> celebrities, long follows)
    {
        Users = users;
        Ordinary = ordinary;
        Celebrities = celebrities;
        Follows = follows;
    }

    public long[] Users { get; }

    /// <summary>Users whose posts are pushed into followers' feeds (not merged at read time).</summary>
    public long[] Ordinary { get; }

    /// <summary>Users whose timelines are merged at read time, most followed first.</summary>
    public IReadOnlyList<Account> Celebrities { get; }

    public long Follows { get; }

    public string Describe() =>
        $"{Format.Count(Users.Length)} users, {Format.Count(Follows)} follows, {Celebrities.Count} celebrities" +
        (Celebrities.Count > 0 ? $" ({string.Join(", ", Celebrities.Select(c => Format.Count(c.Followers)))} followers)" : "");

    public static async Task<Population> LoadAsync(NpgsqlDataSource postgres, CancellationToken ct)
    {
        var users = new List<long>();
        var ordinary = new List<long>();
        var celebrities = new List<Account>();
        var follows = 0L;
        await using var cmd = postgres.CreateCommand("SELECT id, follower_count, following_count, merge_timeline FROM users ORDER BY id");
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var id = reader.GetInt64(0);
            users.Add(id);
            follows += reader.GetInt32(2);
            if (reader.GetBoolean(3))
            {
                celebrities.Add(new Account(id, reader.GetInt32(1)));
            }
            else
            {
                ordinary.Add(id);
            }
        }
        return new Population([.. users], [.. ordinary], [.. celebrities.OrderByDescending(c => c.Followers)], follows);
    }

    /// <summary>Up to <paramref name="count"/> distinct ids drawn at random.</summary>
    public static long[] Sample(IReadOnlyList<long> from, int count, Random random)
    {
        var pool = from.ToArray();
        count = Math.Min(count, pool.Length);
        for (var i = 0; i < count; i++)
        {
            var j = random.Next(i, pool.Length);
            (pool[i], pool[j]) = (pool[j], pool[i]);
        }
        return pool[..count];
    }
}

/// <summary>A user and how many follow them.</summary>
public sealed record Account(long Id, int Followers);
