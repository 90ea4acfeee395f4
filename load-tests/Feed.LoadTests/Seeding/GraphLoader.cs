using System.Diagnostics;
using Feed.LoadTests.Driver;
using Npgsql;
using NpgsqlTypes;

namespace Feed.LoadTests.Seeding;

/// <summary>
/// Writes a <see cref="SeedPlan"/> into the service's tables with binary COPY, in one transaction:
/// either everything is loaded, consistent, or nothing is. Ids come from the service's own
/// <c>feed_next_id()</c>, fetched in bulk and handed out in creation order.
/// </summary>
public sealed class GraphLoader(NpgsqlDataSource postgres, TextWriter console)
{
    /// <summary>
    /// Everything the service derives from users, follows and posts goes with them on --reset, and so
    /// does any other table that references users (CASCADE): Postgres refuses to truncate a referenced
    /// table alone, even when the referencing one is empty.
    /// </summary>
    private const string ResetSql = "TRUNCATE users, follows, posts, outbox, fan_out_batches, idempotency_keys, digests CASCADE";

    private const string HasDataSql = """
        SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT count(*) FROM outbox)
        """;

    private const string NextIdsSql = "SELECT feed_next_id() FROM generate_series(1, $1)";

    private const string VerifySql = """
        SELECT
            (SELECT count(*) FROM users u
             LEFT JOIN (SELECT followee_id, count(*) AS n FROM follows GROUP BY followee_id) f ON f.followee_id = u.id
             WHERE u.follower_count <> coalesce(f.n, 0)),
            (SELECT count(*) FROM users u
             LEFT JOIN (SELECT follower_id, count(*) AS n FROM follows GROUP BY follower_id) f ON f.follower_id = u.id
             WHERE u.following_count <> coalesce(f.n, 0)),
            (SELECT count(*) FROM users WHERE is_celebrity <> (follower_count >= $1) OR merge_timeline <> is_celebrity),
            (SELECT count(*) FROM users WHERE is_celebrity)
        """;

    private static readonly string[] LoadedTables = ["users", "follows", "posts"];

    /// <returns>The new users' ids, by user index.</returns>
    public async Task<long[]> LoadAsync(SeedPlan plan, bool reset, CancellationToken ct)
    {
        var graph = plan.Graph;
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await ExecuteAsync(connection, "SET LOCAL synchronous_commit = off; SET LOCAL maintenance_work_mem = '512MB'", ct);
        if (reset)
        {
            console.WriteLine("Emptying users, follows, posts, outbox, fan_out_batches, idempotency_keys, digests and what references them");
            await ExecuteAsync(connection, ResetSql, ct);
        }
        else
        {
            await RefuseIfDataAsync(connection, ct);
        }

        var deferred = await DeferredSchema.DropAsync(connection, LoadedTables, ct);
        console.WriteLine($"Deferred until after the load: {deferred.Describe()}");
        var userIds = await NextIdsAsync(connection, graph.UserCount, ct);
        var postIds = await NextIdsAsync(connection, plan.PostAuthors.Length, ct);

        await TimedAsync("users", graph.UserCount, () => CopyUsers(connection, plan, userIds));
        await TimedAsync("follows", graph.EdgeCount, () => CopyFollows(connection, plan, userIds));
        await TimedAsync("posts", postIds.Length, () => CopyPosts(connection, plan, userIds, postIds));

        var watch = Stopwatch.StartNew();
        await deferred.RestoreAsync(connection, ct);
        console.WriteLine($"Rebuilt indexes and validated foreign keys in {watch.Elapsed.TotalSeconds:0.0} s");
        await tx.CommitAsync(ct);
        await ExecuteAsync(connection, "ANALYZE users, follows, posts", ct);
        return userIds;
    }

    /// <summary>Checks in SQL that every count and celebrity flag matches the follows table.</summary>
    public async Task VerifyAsync(int celebrityThreshold, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(VerifySql);
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = celebrityThreshold });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var (followers, following, status, celebrities) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        if (followers + following + status > 0)
        {
            throw new InvalidOperationException(
                $"Seeded data is inconsistent: {followers} wrong follower counts, {following} wrong following counts, {status} wrong celebrity flags.");
        }
        console.WriteLine($"Verified: every follower and following count matches the follows table; {celebrities} celebrities (is_celebrity = merge_timeline = follower_count >= {celebrityThreshold}).");
    }

    private static async Task RefuseIfDataAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(HasDataSql, connection);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        var (users, posts, outbox) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        if (users + posts + outbox > 0)
        {
            throw new InvalidOperationException(
                $"The database already has data ({users} users, {posts} posts, {outbox} outbox rows). Pass --reset to replace it.");
        }
    }

    /// <summary>The next <paramref name="count"/> ids from the service's own <c>feed_next_id()</c>, ascending (on the connection's transaction, if any).</summary>
    internal static async Task<long[]> NextIdsAsync(NpgsqlConnection connection, int count, CancellationToken ct)
    {
        var ids = new long[count];
        await using var cmd = new NpgsqlCommand(NextIdsSql, connection);
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = count });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        for (var i = 0; await reader.ReadAsync(ct); i++)
        {
            ids[i] = reader.GetInt64(0);
        }
        Array.Sort(ids);
        return ids;
    }

    // The COPY writers use Npgsql's synchronous API: tens of millions of fields through the
    // asynchronous one cost noticeably more, and nothing else runs on this thread meanwhile.

    private static void CopyUsers(NpgsqlConnection connection, SeedPlan plan, long[] ids)
    {
        var graph = plan.Graph;
        using var copy = connection.BeginBinaryImport(
            "COPY users (id, handle, handle_normalized, display_name, created_at, follower_count, following_count, is_celebrity, merge_timeline, last_feed_read_at) FROM STDIN (FORMAT BINARY)");
        var celebrityRank = graph.Celebrities.Select((user, rank) => (user, rank)).ToDictionary(c => c.user, c => c.rank + 1);
        for (var u = 0; u < graph.UserCount; u++)
        {
            var handle = celebrityRank.TryGetValue(u, out var rank) ? $"celebrity_{rank}" : $"user_{u:D7}";
            copy.StartRow();
            copy.Write(ids[u], NpgsqlDbType.Bigint);
            copy.Write(handle, NpgsqlDbType.Varchar);
            copy.Write(handle.ToLowerInvariant(), NpgsqlDbType.Varchar);
            copy.Write(rank > 0 ? $"Celebrity {rank}" : $"User {u}", NpgsqlDbType.Varchar);
            copy.Write(plan.JoinedAt[u], NpgsqlDbType.TimestampTz);
            copy.Write(graph.FollowerCounts[u], NpgsqlDbType.Integer);
            copy.Write(graph.FollowingCount(u), NpgsqlDbType.Integer);
            copy.Write(graph.IsCelebrity[u], NpgsqlDbType.Boolean);
            copy.Write(graph.IsCelebrity[u], NpgsqlDbType.Boolean);
            copy.Write(plan.Now, NpgsqlDbType.TimestampTz);
        }
        copy.Complete();
    }

    /// <summary>A follow is dated at random between the later of the two sign-ups and now.</summary>
    private static void CopyFollows(NpgsqlConnection connection, SeedPlan plan, long[] ids)
    {
        var graph = plan.Graph;
        var random = new Random(graph.UserCount);
        using var copy = connection.BeginBinaryImport("COPY follows (follower_id, followee_id, created_at) FROM STDIN (FORMAT BINARY)");
        for (var u = 0; u < graph.UserCount; u++)
        {
            foreach (var v in graph.FolloweesOf(u))
            {
                var since = plan.JoinedAt[Math.Max(u, v)];
                copy.StartRow();
                copy.Write(ids[u], NpgsqlDbType.Bigint);
                copy.Write(ids[v], NpgsqlDbType.Bigint);
                copy.Write(since + (plan.Now - since) * random.NextDouble(), NpgsqlDbType.TimestampTz);
            }
        }
        copy.Complete();
    }

    /// <summary>Posts already delivered: pushed for ordinary authors, merged at read time for celebrities.</summary>
    private static void CopyPosts(NpgsqlConnection connection, SeedPlan plan, long[] userIds, long[] postIds)
    {
        var random = new Random(postIds.Length);
        using var copy = connection.BeginBinaryImport("COPY posts (id, author_id, body, created_at, delivery) FROM STDIN (FORMAT BINARY)");
        for (var p = 0; p < postIds.Length; p++)
        {
            var author = plan.PostAuthors[p];
            copy.StartRow();
            copy.Write(postIds[p], NpgsqlDbType.Bigint);
            copy.Write(userIds[author], NpgsqlDbType.Bigint);
            copy.Write(PostText.Next(random), NpgsqlDbType.Varchar);
            copy.Write(plan.PostedAt[p], NpgsqlDbType.TimestampTz);
            copy.Write((short)(plan.Graph.IsCelebrity[author] ? 2 : 1), NpgsqlDbType.Smallint);
        }
        copy.Complete();
    }

    private async Task TimedAsync(string table, long rows, Action copy)
    {
        var watch = Stopwatch.StartNew();
        await Task.Run(copy);
        console.WriteLine($"Copied {Format.Count(rows),12} rows into {table} in {watch.Elapsed.TotalSeconds:0.0} s");
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
