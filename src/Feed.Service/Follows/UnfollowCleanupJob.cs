using System.ComponentModel;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// After an unfollow, removes the former followee's posts from the follower's stored feed. Reads
/// already hide them (they drop authors the reader does not follow); this frees the feed's slots.
/// Skipped if the follower has followed again by the time it runs.
/// </summary>
public sealed class UnfollowCleanupJob(NpgsqlDataSource postgres, FeedStore feeds, IOptions<FeedOptions> options)
{
    private const string StateSql = """
        SELECT o.completed_at IS NOT NULL, EXISTS (SELECT 1 FROM follows WHERE follower_id = $1 AND followee_id = $2)
        FROM outbox o WHERE o.id = $3
        """;

    // Deleted posts too: whatever of theirs may still sit in the feed.
    private const string RecentPostsSql = "SELECT id FROM posts WHERE author_id = $1 ORDER BY id DESC LIMIT $2";

    [Queue(JobQueues.FanOut)]
    [DisplayName("Remove posts of {1} from the feed of {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long followerId, long followeeId, long outboxId, CancellationToken ct)
    {
        await using var connection = await postgres.OpenConnectionAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(ct);
        await PairLock.AcquireAsync(connection, tx, followerId, followeeId, ct);

        bool done, following;
        await using (var state = new NpgsqlCommand(StateSql, connection, tx))
        {
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followerId });
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
            state.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
            await using var reader = await state.ExecuteReaderAsync(ct);
            if (!await reader.ReadAsync(ct))
            {
                return;
            }
            (done, following) = (reader.GetBoolean(0), reader.GetBoolean(1));
        }
        if (done)
        {
            return;
        }
        if (!following)
        {
            var posts = new List<long>();
            await using (var recent = new NpgsqlCommand(RecentPostsSql, connection, tx))
            {
                recent.Parameters.Add(new NpgsqlParameter<long> { TypedValue = followeeId });
                recent.Parameters.Add(new NpgsqlParameter<int> { TypedValue = options.Value.FeedCap });
                await using var reader = await recent.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct))
                {
                    posts.Add(reader.GetInt64(0));
                }
            }
            if (posts.Count > 0)
            {
                await feeds.RemovePostsAsync(followerId, posts);
            }
        }
        await FanOutCompletion.CompleteAsync(connection, tx, outboxId, ct);
        await tx.CommitAsync(ct);
    }
}
