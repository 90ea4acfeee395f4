using System.ComponentModel;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Follows;

/// <summary>
/// After a follow, copies the followee's recent posts (<see cref="FanOutOptions.FollowBackfillCount"/>)
/// into the follower's feed, if that feed exists (a missing one is rebuilt whole on the next read).
/// Celebrity followees are skipped: their posts are merged at read time anyway.
/// </summary>
/// <remarks>
/// Runs in <see cref="FollowPairWork"/>, like <see cref="UnfollowCleanupJob"/>, so a follow, unfollow,
/// follow sequence converges whatever order its jobs run in.
/// </remarks>
public sealed class FollowBackfillJob(NpgsqlDataSource postgres, FeedStore feeds, ReaderGraphCache readerGraphs, IOptions<FanOutOptions> options)
{
    [Queue(JobQueues.FanOut)]
    [DisplayName("Backfill posts of {1} into the feed of {0}")]
    [AutomaticRetry(Attempts = 10)]
    public Task RunAsync(long followerId, long followeeId, long outboxId, CancellationToken ct) =>
        FollowPairWork.RunAsync(postgres, followerId, followeeId, outboxId, async (state, connection, tx) =>
        {
            // The request deleted the follower's cached graph already; this makes sure (retried until done).
            await readerGraphs.InvalidateAsync(followerId);
            var count = options.Value.FollowBackfillCount;
            if (!state.Following || state.FolloweeIsCelebrity || count == 0)
            {
                return;
            }
            var posts = await FollowPairWork.RecentPostsAsync(connection, tx, followeeId, count, includeDeleted: false, ct);
            if (posts.Count > 0)
            {
                await feeds.AddAsync(followerId, posts);
            }
        }, ct);
}
