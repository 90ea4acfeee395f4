using Feed.Feeds;
using Feed.Infrastructure.Postgres;
using Feed.Outbox;
using Feed.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Posts;

/// <summary>
/// Deletes a post: it is marked deleted in Postgres (with an outbox row to remove it from the
/// feeds it was pushed into), then tombstoned in the post cache and dropped from the author's
/// timeline, so every read stops showing it at once.
/// </summary>
public sealed class DeletePostService(
    FeedDbContext db,
    OutboxDispatcher dispatcher,
    AuthorTimelineStore timelines,
    PostCache cache,
    IOptions<OutboxOptions> outboxOptions,
    TimeProvider clock)
{
    public async Task<DeletePostOutcome> DeleteAsync(long callerId, long postId, CancellationToken ct)
    {
        var post = await db.Posts.AsNoTracking().FirstOrDefaultAsync(p => p.Id == postId, ct);
        if (post is null)
        {
            return DeletePostOutcome.NotFound;
        }
        if (post.AuthorId != callerId)
        {
            return DeletePostOutcome.NotAuthor;
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var deleted = await db.Posts.Where(p => p.Id == postId && p.DeletedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.DeletedAt, clock.GetUtcNow()), ct);
        OutboxMessage? outbox = null;
        List<long> deliveries = [];
        if (deleted == 1)
        {
            deliveries = await WebhookPublisher.PublishAsync(
                (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)tx.GetDbTransaction(),
                WebhookEventTypes.PostDeleted, PostEventData.From(post) with { Body = null }, clock.GetUtcNow(), ct);
            outbox = new OutboxMessage
            {
                Kind = OutboxKind.PostDeleted,
                PostId = postId,
                NextAttemptAt = clock.GetUtcNow() + outboxOptions.Value.RedeliverAfter,
            };
            db.Outbox.Add(outbox);
            await db.SaveChangesAsync(ct);
        }
        await tx.CommitAsync(ct);
        dispatcher.EnqueueDeliveriesSoon(deliveries);

        // Repeated on a retried delete too, in case the first one's Redis writes were lost.
        await cache.MarkDeletedAsync(postId);
        await timelines.RemoveAsync(post.AuthorId, postId);
        if (outbox is not null)
        {
            dispatcher.EnqueueSoon(OutboxWork.From(outbox));
        }
        return DeletePostOutcome.Deleted;
    }
}

public enum DeletePostOutcome
{
    Deleted,
    NotFound,
    NotAuthor,
}
