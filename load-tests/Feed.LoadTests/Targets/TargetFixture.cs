using System.Diagnostics;
using Feed.LoadTests.Driver;
using Feed.LoadTests.Seeding;
using Npgsql;
using NpgsqlTypes;

namespace Feed.LoadTests.Targets;

/// <summary>
/// The accounts the targets are measured on, loaded with binary COPY in one transaction next to
/// whatever the database already holds (every handle starts with <c>tgt_</c>; an earlier fixture is
/// deleted first):
/// <list type="bullet">
/// <item>50 celebrities with 20 posts each, followed by <c>threshold</c> fans (so each is really above the threshold);</item>
/// <item>200 ordinary authors with 8 posts each;</item>
/// <item>three reader groups: 195 ordinary + 5 celebrities (the read target), 200 ordinary + 0 celebrities and
/// 150 ordinary + 50 celebrities (the cost-growth pair); their pushed feeds are full (1,560 candidate posts, cap 800);</item>
/// <item>a big author followed by 10,000 fans (below the threshold) and 40 small authors with 1,000 fans each;</item>
/// <item>writers without followers, for the write runs.</item>
/// </list>
/// Counts and celebrity flags match the edges, as the service keeps them.
/// </summary>
public sealed class TargetFixture
{
    public const string HandlePrefix = "tgt_";
    public const int CelebrityCount = 50;
    public const int OrdinaryCount = 200;
    public const int CelebrityPosts = 20;
    public const int OrdinaryPosts = 8;
    public const int AuthorPosts = 2;

    private const string DeleteSql = "DELETE FROM users WHERE handle LIKE 'tgt\\_%'";

    private readonly List<string> _handles = [];
    private readonly List<(int Follower, int Followee)> _edges = [];
    private readonly List<int> _postAuthors = [];

    private TargetFixture(int threshold, int writers, bool smoke)
    {
        Threshold = threshold;
        var readersPerGroup = smoke ? 5 : 50;
        if (threshold <= 3 * readersPerGroup + 1)
        {
            throw new InvalidOperationException($"The celebrity threshold must be above {3 * readersPerGroup + 1} for the fixture's ordinary authors to stay ordinary.");
        }
        Celebrities = Add("c", CelebrityCount);
        Ordinary = Add("o", OrdinaryCount);
        Readers5 = Add("r5_", readersPerGroup);
        Readers0 = Add("r0_", readersPerGroup);
        Readers50 = Add("r50_", readersPerGroup);
        BigAuthor = Add("big", 1)[0];
        SmallAuthors = Add("s", smoke ? 4 : 40);
        Fans = Add("f", threshold);
        Writers = Add("w", writers);

        foreach (var r in Readers5)
        {
            Follow(r, Ordinary.Take(195).Concat(Celebrities.Take(5)));
        }
        foreach (var r in Readers0)
        {
            Follow(r, Ordinary);
        }
        foreach (var r in Readers50)
        {
            Follow(r, Ordinary.Take(150).Concat(Celebrities));
        }
        BigFollowers = [.. Fans.Take(Math.Min(10_000, Fans.Length * 5 / 6))];
        var smallFollowers = Math.Min(1_000, Fans.Length / 2);
        SmallFollowers = new int[SmallAuthors.Length][];
        for (var s = 0; s < SmallAuthors.Length; s++)
        {
            var start = s * Fans.Length / SmallAuthors.Length;
            SmallFollowers[s] = [.. Enumerable.Range(0, smallFollowers).Select(i => Fans[(start + i) % Fans.Length])];
        }
        foreach (var f in Fans)
        {
            Follow(f, Celebrities);
        }
        foreach (var f in BigFollowers)
        {
            _edges.Add((f, BigAuthor));
        }
        for (var s = 0; s < SmallAuthors.Length; s++)
        {
            foreach (var f in SmallFollowers[s])
            {
                _edges.Add((f, SmallAuthors[s]));
            }
        }

        foreach (var c in Celebrities)
        {
            _postAuthors.AddRange(Enumerable.Repeat(c, CelebrityPosts));
        }
        foreach (var o in Ordinary)
        {
            _postAuthors.AddRange(Enumerable.Repeat(o, OrdinaryPosts));
        }
        foreach (var a in SmallAuthors.Append(BigAuthor))
        {
            _postAuthors.AddRange(Enumerable.Repeat(a, AuthorPosts));
        }
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_postAuthors));
    }

    public int Threshold { get; }

    // Indexes into the user list until LoadAsync has the ids (Ids[index]).
    private int[] Celebrities { get; }

    private int[] Ordinary { get; }

    private int[] Readers5 { get; }

    private int[] Readers0 { get; }

    private int[] Readers50 { get; }

    private int BigAuthor { get; }

    private int[] BigFollowers { get; }

    private int[] SmallAuthors { get; }

    private int[][] SmallFollowers { get; }

    private int[] Fans { get; }

    private int[] Writers { get; }

    /// <summary>Builds the fixture in memory, then replaces the previous one in Postgres.</summary>
    public static async Task<TargetGraph> LoadAsync(NpgsqlDataSource postgres, int threshold, int writers, bool smoke, TextWriter console, CancellationToken ct)
    {
        var fixture = new TargetFixture(threshold, writers, smoke);
        return await fixture.WriteAsync(postgres, console, ct);
    }

    /// <summary>The fixture an earlier run loaded, if it matches the threshold and writer count; otherwise null.</summary>
    public static async Task<TargetGraph?> FindAsync(NpgsqlDataSource postgres, int threshold, int writers, CancellationToken ct)
    {
        var byKind = new Dictionary<string, SortedDictionary<int, long>>();
        await using (var cmd = postgres.CreateCommand("SELECT id, handle FROM users WHERE handle LIKE 'tgt\\_%'"))
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                var handle = reader.GetString(1)[HandlePrefix.Length..];
                var digits = handle.Length - handle.Reverse().TakeWhile(char.IsAsciiDigit).Count();
                var kind = handle[..digits];
                if (!byKind.TryGetValue(kind, out var ids))
                {
                    byKind[kind] = ids = [];
                }
                ids[int.Parse(handle[digits..], System.Globalization.CultureInfo.InvariantCulture)] = reader.GetInt64(0);
            }
        }
        long[] Ids(string kind) => byKind.TryGetValue(kind, out var ids) ? [.. ids.Values] : [];
        var fans = Ids("f");
        if (fans.Length != threshold || Ids("w").Length != writers || Ids("big").Length != 1 || Ids("s").Length == 0)
        {
            return null;
        }
        var big = Ids("big")[0];
        var small = Ids("s");
        var followers = new Dictionary<long, List<long>>();
        await using (var cmd = postgres.CreateCommand("SELECT followee_id, follower_id FROM follows WHERE followee_id = ANY($1) ORDER BY follower_id"))
        {
            cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [big, .. small] });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var followee = reader.GetInt64(0);
                if (!followers.TryGetValue(followee, out var list))
                {
                    followers[followee] = list = [];
                }
                list.Add(reader.GetInt64(1));
            }
        }
        long[] FollowersOf(long author) => followers.TryGetValue(author, out var list) ? [.. list] : [];
        return new TargetGraph(
            Ids("c"), Ids("o"), Ids("r5_"), Ids("r0_"), Ids("r50_"), big, FollowersOf(big),
            small, [.. small.Select(FollowersOf)], fans, Ids("w"));
    }

    private int[] Add(string kind, int count)
    {
        var first = _handles.Count;
        for (var i = 0; i < count; i++)
        {
            _handles.Add($"{HandlePrefix}{kind}{i}");
        }
        return [.. Enumerable.Range(first, count)];
    }

    private void Follow(int follower, IEnumerable<int> followees)
    {
        foreach (var followee in followees)
        {
            _edges.Add((follower, followee));
        }
    }

    private async Task<TargetGraph> WriteAsync(NpgsqlDataSource postgres, TextWriter console, CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var delete = new NpgsqlCommand(DeleteSql, connection, tx))
        {
            delete.CommandTimeout = 600;
            var deleted = await delete.ExecuteNonQueryAsync(ct);
            if (deleted > 0)
            {
                console.WriteLine($"Deleted the previous fixture ({Format.Count(deleted)} users) in {watch.Elapsed.TotalSeconds:0.0} s");
            }
        }
        var ids = await GraphLoader.NextIdsAsync(connection, _handles.Count, ct);
        var postIds = await GraphLoader.NextIdsAsync(connection, _postAuthors.Count, ct);
        var followers = new int[_handles.Count];
        var following = new int[_handles.Count];
        foreach (var (follower, followee) in _edges)
        {
            following[follower]++;
            followers[followee]++;
        }
        var now = DateTimeOffset.UtcNow;
        await Task.Run(() =>
        {
            using (var copy = connection.BeginBinaryImport(
                "COPY users (id, handle, handle_normalized, display_name, created_at, follower_count, following_count, is_celebrity, merge_timeline, last_feed_read_at) FROM STDIN (FORMAT BINARY)"))
            {
                for (var u = 0; u < _handles.Count; u++)
                {
                    var celebrity = followers[u] >= Threshold;
                    copy.StartRow();
                    copy.Write(ids[u], NpgsqlDbType.Bigint);
                    copy.Write(_handles[u], NpgsqlDbType.Varchar);
                    copy.Write(_handles[u], NpgsqlDbType.Varchar);
                    copy.Write(_handles[u], NpgsqlDbType.Varchar);
                    copy.Write(now.AddDays(-30), NpgsqlDbType.TimestampTz);
                    copy.Write(followers[u], NpgsqlDbType.Integer);
                    copy.Write(following[u], NpgsqlDbType.Integer);
                    copy.Write(celebrity, NpgsqlDbType.Boolean);
                    copy.Write(celebrity, NpgsqlDbType.Boolean);
                    copy.Write(now, NpgsqlDbType.TimestampTz);
                }
                copy.Complete();
            }
            using (var copy = connection.BeginBinaryImport("COPY follows (follower_id, followee_id, created_at) FROM STDIN (FORMAT BINARY)"))
            {
                foreach (var (follower, followee) in _edges)
                {
                    copy.StartRow();
                    copy.Write(ids[follower], NpgsqlDbType.Bigint);
                    copy.Write(ids[followee], NpgsqlDbType.Bigint);
                    copy.Write(now.AddDays(-7), NpgsqlDbType.TimestampTz);
                }
                copy.Complete();
            }
            var random = new Random(_postAuthors.Count);
            using (var copy = connection.BeginBinaryImport("COPY posts (id, author_id, body, created_at, delivery) FROM STDIN (FORMAT BINARY)"))
            {
                for (var p = 0; p < postIds.Length; p++)
                {
                    var author = _postAuthors[p];
                    copy.StartRow();
                    copy.Write(postIds[p], NpgsqlDbType.Bigint);
                    copy.Write(ids[author], NpgsqlDbType.Bigint);
                    copy.Write(PostText.Next(random), NpgsqlDbType.Varchar);
                    copy.Write(now.AddDays(-1) + (TimeSpan.FromDays(1) * p / postIds.Length), NpgsqlDbType.TimestampTz);
                    copy.Write((short)(followers[author] >= Threshold ? 2 : 1), NpgsqlDbType.Smallint);
                }
                copy.Complete();
            }
        }, ct);
        await tx.CommitAsync(ct);
        await using (var analyze = new NpgsqlCommand("ANALYZE users, follows, posts", connection))
        {
            await analyze.ExecuteNonQueryAsync(ct);
        }
        console.WriteLine(
            $"Loaded the targets fixture: {Format.Count(_handles.Count)} users, {Format.Count(_edges.Count)} follows, " +
            $"{Format.Count(postIds.Length)} posts in {watch.Elapsed.TotalSeconds:0.0} s");

        long[] Map(IEnumerable<int> indexes) => [.. indexes.Select(i => ids[i])];
        return new TargetGraph(
            Map(Celebrities), Map(Ordinary), Map(Readers5), Map(Readers0), Map(Readers50),
            ids[BigAuthor], Map(BigFollowers),
            Map(SmallAuthors), [.. SmallFollowers.Select(Map)],
            Map(Fans), Map(Writers));
    }
}

/// <summary>The fixture's accounts by role (user ids).</summary>
public sealed record TargetGraph(
    long[] Celebrities,
    long[] Ordinary,
    long[] Readers5,
    long[] Readers0,
    long[] Readers50,
    long BigAuthor,
    long[] BigFollowers,
    long[] SmallAuthors,
    long[][] SmallFollowers,
    long[] Fans,
    long[] Writers)
{
    /// <summary>Every account whose home feed must exist in Redis before the runs: readers and fans.</summary>
    public IReadOnlyList<long> ToWarm => [.. Readers5, .. Readers0, .. Readers50, .. Fans];
}
