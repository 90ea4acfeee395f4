using Feed.FanOut;
using Feed.Feeds;
using Feed.Outbox;
using Feed.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// Follows and unfollows. The edge, both users' counts, the followee's celebrity status (with
/// hysteresis), the outbox rows for the feed work and the webhook deliveries all change in one
/// transaction; the jobs are enqueued after the commit.
/// </summary>
public sealed class FollowService(
    NpgsqlDataSource postgres,
    OutboxDispatcher dispatcher,
    ReaderGraphCache readerGraphs,
    IOptions<FanOutOptions> fanOutOptions,
    IOptions<OutboxOptions> outboxOptions,
    TimeProvider clock,
    ILogger<FollowService> logger)
{
    private const string InsertSql = "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";
    private const string DeleteSql = "DELETE FROM follows WHERE follower_id = $1 AND followee_id = $2";

    private const string FollowingCountSql = "UPDATE users SET following_count = following_count + $2 WHERE id = $1";

    // Returns the status before and after, so a demotion can enqueue its fan-out in this transaction.
    // NO KEY UPDATE, like the UPDATE itself: a FOR UPDATE lock would conflict with the KEY SHARE locks
    // that the follows foreign keys take on the same row in concurrent follows, and deadlock.
    private const string FollowerCountSql = """
        UPDATE users u SET
            follower_count = u.follower_count + $2,
            is_celebrity = CASE
                WHEN u.follower_count + $2 >= $3 THEN true
                WHEN u.follower_count + $2 < $4 THEN false
                ELSE u.is_celebrity END,
            merge_timeline = u.merge_timeline OR u.follower_count + $2 >= $3
        FROM (SELECT id, is_celebrity FROM users WHERE id = $1 FOR NO KEY UPDATE) old
        WHERE u.id = old.id
        RETURNING old.is_celebrity, u.is_celebrity
        """;

    internal const string InsertOutboxSql = """
        INSERT INTO outbox (kind, user_id, target_user_id, next_attempt_at) VALUES ($1, $2, $3, now() + $4) RETURNING id
        """;

    private readonly FanOutOptions _fanOut = fanOutOptions.Value;
    private readonly TimeSpan _redeliverAfter = outboxOptions.Value.RedeliverAfter;

    /// <returns>True when the edge was created (false: it already existed).</returns>
    public Task<bool> FollowAsync(long followerId, long followeeId, CancellationToken ct) =>
        ChangeAsync(InsertSql, followerId, followeeId, +1, OutboxKind.FollowCreated, ct);

    /// <returns>True when the edge was removed (false: there was none).</returns>
    public Task<bool> UnfollowAsync(long followerId, long followeeId, CancellationToken ct) =>
        ChangeAsync(DeleteSql, followerId, followeeId, -1, OutboxKind.FollowRemoved, ct);

    private const int MaxAttempts = 3;

    private async Task<bool> ChangeAsync(string edgeSql, long followerId, long followeeId, int delta, OutboxKind kind, CancellationToken ct)
    {
        // Hot followees serialise on their row; a deadlock among many concurrent changes is retried, not surfaced.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ChangeOnceAsync(edgeSql, followerId, followeeId, delta, kind, ct);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
                                                && attempt < MaxAttempts)
            {
                logger.LogInformation("Follow change {Follower} → {Followee} hit {SqlState}; retrying", followerId, followeeId, ex.SqlState);
            }
        }
    }

    private async Task<bool> ChangeOnceAsync(string edgeSql, long followerId, long followeeId, int delta, OutboxKind kind, CancellationToken ct)
    {
        var work = new List<OutboxWork>(2);
        List<long> deliveries;
        var promoted = false;
        // Deleted before and after the commit: a read between the two rebuilds from the old state,
        // the second delete removes that; the outbox job deletes it once more should this one fail.
        await InvalidateReaderAsync(followerId);
        await using (var connection = await postgres.OpenConnectionAsync(ct))
        await using (var tx = await connection.BeginTransactionAsync(ct))
        {
            await using (var edge = new NpgsqlCommand(edgeSql, connection, tx))
            {
                edge.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
                edge.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
                if (await edge.ExecuteNonQueryAsync(ct) == 0)
                {
                    return false;
                }
            }
            // Both user rows are locked in id order, so two users following each other at once cannot deadlock.
            var demoted = false;
            foreach (var userId in new[] { followerId, followeeId }.Order())
            {
                if (userId == followerId)
                {
                    await using var following = new NpgsqlCommand(FollowingCountSql, connection, tx);
                    following.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
                    following.Parameters.Add(new NpgsqlParameter<int> { TypedValue = delta });
                    await following.ExecuteNonQueryAsync(ct);
                    continue;
                }
                await using var followers = new NpgsqlCommand(FollowerCountSql, connection, tx);
                followers.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
                followers.Parameters.Add(new NpgsqlParameter<int> { TypedValue = delta });
                followers.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _fanOut.CelebrityThreshold });
                followers.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _fanOut.CelebrityLowerMark });
                await using var reader = await followers.ExecuteReaderAsync(ct);
                if (await reader.ReadAsync(ct))
                {
                    demoted = reader.GetBoolean(0) && !reader.GetBoolean(1);
                    promoted = !reader.GetBoolean(0) && reader.GetBoolean(1);
                }
            }
            work.Add(await InsertOutboxAsync(connection, tx, kind, followerId, followeeId, _redeliverAfter, ct));
            if (demoted)
            {
                work.Add(await InsertOutboxAsync(connection, tx, OutboxKind.AuthorDemoted, followeeId, null, _redeliverAfter, ct));
            }
            deliveries = await WebhookPublisher.PublishAsync(connection, tx,
                kind == OutboxKind.FollowCreated ? WebhookEventTypes.UserFollowed : WebhookEventTypes.UserUnfollowed,
                FollowEventData.From(followerId, followeeId), clock.GetUtcNow(), ct);
            await tx.CommitAsync(ct);
        }

        work.ForEach(dispatcher.EnqueueSoon);
        dispatcher.EnqueueDeliveriesSoon(deliveries);
        await InvalidateReaderAsync(followerId);
        if (promoted)
        {
            // Every reader must start merging the new celebrity's timeline.
            try
            {
                await readerGraphs.BumpGenerationAsync();
            }
            catch (StackExchange.Redis.RedisException ex)
            {
                logger.LogWarning(ex, "Could not invalidate reader graphs after {UserId} became a celebrity; they expire within their TTL", followeeId);
            }
        }
        return true;
    }

    private async Task InvalidateReaderAsync(long followerId)
    {
        try
        {
            await readerGraphs.InvalidateAsync(followerId);
        }
        catch (StackExchange.Redis.RedisException ex)
        {
            logger.LogWarning(ex, "Could not invalidate the reader graph of {UserId}; the outbox job retries it", followerId);
        }
    }

    internal static async Task<OutboxWork> InsertOutboxAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, OutboxKind kind, long userId, long? targetUserId, TimeSpan redeliverAfter, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(InsertOutboxSql, connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<short> { TypedValue = (short)kind });
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = userId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)targetUserId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = redeliverAfter });
        var id = (long)(await cmd.ExecuteScalarAsync(ct))!;
        return new OutboxWork(id, kind, null, userId, targetUserId);
    }
}
