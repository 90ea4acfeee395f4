using Feed.FanOut;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// Follows and unfollows. The edge and both users' counts change in one transaction, and the
/// followee's celebrity status moves with the count (with hysteresis).
/// </summary>
public sealed class FollowService(NpgsqlDataSource postgres, IOptions<FanOutOptions> options)
{
    private const string InsertSql = "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    private const string DeleteSql = "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2";

    // Rows are updated in id order so two users following each other at once cannot deadlock.
    private const string CountsSql = """
        UPDATE users SET
            follower_count = follower_count + CASE WHEN id = $2 THEN $3 ELSE 0 END,
            following_count = following_count + CASE WHEN id = $1 THEN $3 ELSE 0 END,
            is_celebrity = CASE
                WHEN id <> $2 THEN is_celebrity
                WHEN follower_count + $3 >= $4 THEN true
                WHEN follower_count + $3 < $5 THEN false
                ELSE is_celebrity END
        WHERE id = $6
        """;

    private readonly FanOutOptions _options = options.Value;

    /// <returns>True when the edge was created (false: it already existed).</returns>
    public Task<bool> FollowAsync(long followerId, long followeeId, CancellationToken ct) =>
        ChangeAsync(InsertSql, followerId, followeeId, +1, ct);

    /// <returns>True when the edge was removed (false: there was none).</returns>
    public Task<bool> UnfollowAsync(long followerId, long followeeId, CancellationToken ct) =>
        ChangeAsync(DeleteSql, followerId, followeeId, -1, ct);

    private async Task<bool> ChangeAsync(string edgeSql, long followerId, long followeeId, int delta, CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await using (var edge = new NpgsqlCommand(edgeSql, connection, tx))
        {
            edge.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            edge.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            if (await edge.ExecuteNonQueryAsync(ct) == 0)
            {
                return false;
            }
        }
        foreach (var userId in new[] { followerId, followeeId }.Order())
        {
            await using var counts = new NpgsqlCommand(CountsSql, connection, tx);
            counts.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            counts.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            counts.Parameters.Add(new NpgsqlParameter<int> { TypedValue = delta });
            counts.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.CelebrityThreshold });
            counts.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.CelebrityLowerMark });
            counts.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
            await counts.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        return true;
    }
}
