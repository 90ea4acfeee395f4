using System.ComponentModel;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// After an unfollow, removes the former followee's posts from the follower's stored feed. Reads
/// already hide them (they drop authors the reader does not follow); this frees the feed's slots.
/// Skipped if the follower has followed again by the time it runs (see <see cref="FollowPairWork"/>).
/// </summary>
public sealed class UnfollowCleanupJob(NpgsqlDataSource postgres, FeedStore feeds, ReaderGraphCache readerGraphs, IOptions<FeedOptions> options)
{
    [Queue(JobQueues.FanOut)]
    [DisplayName("Remove posts of {1} from the feed of {0}")]
    [AutomaticRetry(Attempts = 10)]
    public Task RunAsync(long followerId, long followeeId, long outboxId, CancellationToken ct) =>
        FollowPairWork.RunAsync(postgres, followerId, followeeId, outboxId, async (state, connection, tx) =>
        {
            // The request deleted the follower's cached graph already; this makes sure (retried until done).
            await readerGraphs.InvalidateAsync(followerId);
            if (state.Following)
            {
                return;
            }
            // Deleted posts too: whatever of theirs may still sit in the feed.
            var posts = await FollowPairWork.RecentPostsAsync(connection, tx, followeeId, options.Value.FeedCap, includeDeleted: true, ct);
            if (posts.Count > 0)
            {
                await feeds.RemovePostsAsync(followerId, posts);
            }
        }, ct);
}
