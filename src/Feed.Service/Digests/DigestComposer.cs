using Feed.Infrastructure.Postgres;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Digests;

/// <summary>
/// What a user missed: the live posts of the accounts they follow, created after their last
/// digest or their last feed read (whichever is later, and at most <see cref="DigestOptions.MaxLookback"/>
/// ago), ranked, the top <see cref="DigestOptions.TopPosts"/> shown and the rest counted.
/// </summary>
/// <remarks>
/// Ranking (docs/decisions.md): newest first, but each author's first
/// <see cref="DigestOptions.MaxPostsPerAuthor"/> posts come before anyone's later ones, so one
/// prolific account cannot fill the digest; if fewer authors posted, the remaining places go to
/// their next-newest posts. There are no likes or replies to rank by, and recency with author
/// diversity is honest about what the service knows. Shown posts are listed newest first.
/// </remarks>
public sealed class DigestComposer(NpgsqlDataSource postgres, IOptions<DigestOptions> options)
{
    // The span ends at the database's clock, the same clock that stamped created_at.
    private const string RecipientSql = """
        SELECT u.handle, u.display_name, u.email, u.time_zone, u.digest_enabled, u.digest_frequency, u.last_feed_read_at,
               (SELECT max(d.covered_until) FROM digests d WHERE d.user_id = u.id AND d.status IN (3, 4)),
               now()
        FROM users u WHERE u.id = $1
        """;

    // The id bound turns the time range into an index range scan of each followee's live posts.
    private const string PostsSql = """
        WITH fresh AS (
            SELECT p.id, p.author_id, p.body, p.created_at,
                   row_number() OVER (PARTITION BY p.author_id ORDER BY p.id DESC) AS nth_of_author
            FROM follows f
            JOIN posts p ON p.author_id = f.followee_id
            WHERE f.follower_id = $1 AND p.deleted_at IS NULL
              AND p.id >= $2 AND p.created_at > $3 AND p.created_at <= $4)
        SELECT fr.id, a.handle, a.display_name, fr.body, fr.created_at, count(*) OVER ()
        FROM fresh fr JOIN users a ON a.id = fr.author_id
        ORDER BY (fr.nth_of_author <= $5) DESC, fr.id DESC
        LIMIT $6
        """;

    private readonly DigestOptions _options = options.Value;

    /// <summary>The user as a digest recipient, with the span a digest composed now would cover; null if the user does not exist.</summary>
    public async Task<DigestRecipient?> LoadRecipientAsync(long userId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(RecipientSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        var now = reader.GetFieldValue<DateTimeOffset>(8);
        var since = Max(reader.GetFieldValue<DateTimeOffset>(6), now - _options.MaxLookback);
        if (!reader.IsDBNull(7))
        {
            since = Max(since, reader.GetFieldValue<DateTimeOffset>(7));
        }
        return new DigestRecipient(
            userId,
            reader.GetString(0),
            reader.GetString(1),
            reader.IsDBNull(2) ? null : reader.GetString(2),
            reader.GetString(3),
            reader.GetBoolean(4),
            (DigestFrequency)reader.GetInt16(5),
            since,
            now);
    }

    /// <summary>The ranked posts of the recipient's span and how many there are in all.</summary>
    public async Task<DigestContent> ComposeAsync(DigestRecipient recipient, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(PostsSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = recipient.UserId });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = FeedDbContext.FirstIdAt(recipient.Since) });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = recipient.Since });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = recipient.Until });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = _options.MaxPostsPerAuthor });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.TopPosts });
        var posts = new List<DigestPost>(_options.TopPosts);
        var total = 0;
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            posts.Add(new DigestPost(
                reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTimeOffset>(4)));
            total = (int)reader.GetInt64(5);
        }
        posts.Sort((a, b) => b.Id.CompareTo(a.Id));
        return new DigestContent(posts, total);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}

/// <summary>A user as a digest recipient, and the span of time a digest composed now covers: (<paramref name="Since"/>, <paramref name="Until"/>].</summary>
public sealed record DigestRecipient(
    long UserId,
    string Handle,
    string DisplayName,
    string? Email,
    string TimeZone,
    bool DigestEnabled,
    DigestFrequency Frequency,
    DateTimeOffset Since,
    DateTimeOffset Until);

public sealed record DigestPost(long Id, string AuthorHandle, string AuthorDisplayName, string Body, DateTimeOffset CreatedAt);

/// <summary>The posts shown (newest first) and the number of new posts in all (<see cref="Total"/> ≥ shown).</summary>
public sealed record DigestContent(IReadOnlyList<DigestPost> Posts, int Total)
{
    public int NotShown => Total - Posts.Count;
}
