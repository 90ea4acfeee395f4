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
/// Writes a post: the post row, its outbox row, its webhook deliveries and (with an idempotency key)
/// the key's record commit in one transaction; fan-out and deliveries are enqueued after the commit
/// and never awaited.
/// </summary>
public sealed class CreatePostService(
    FeedDbContext db,
    OutboxDispatcher dispatcher,
    AuthorTimelineStore timelines,
    PostCache cache,
    IOptions<OutboxOptions> outboxOptions,
    TimeProvider clock,
    ILogger<CreatePostService> logger)
{
    public async Task<CreatePostResult> CreateAsync(long authorId, string body, string? idempotencyKey, string requestHash, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (idempotencyKey is not null)
        {
            // Blocks behind a concurrent request with the same key until it commits, then finds its result.
            var claimed = await db.Database.ExecuteSqlAsync(
                $"INSERT INTO idempotency_keys (user_id, key, request_hash, post_id) VALUES ({authorId}, {idempotencyKey}, {requestHash}, 0) ON CONFLICT DO NOTHING",
                ct);
            if (claimed == 0)
            {
                await tx.RollbackAsync(ct);
                return await ReplayAsync(authorId, idempotencyKey, requestHash, ct);
            }
        }

        var post = new Post { AuthorId = authorId, Body = body };
        db.Posts.Add(post);
        await db.SaveChangesAsync(ct);
        var outbox = new OutboxMessage
        {
            Kind = OutboxKind.PostCreated,
            PostId = post.Id,
            NextAttemptAt = clock.GetUtcNow() + outboxOptions.Value.RedeliverAfter,
        };
        db.Outbox.Add(outbox);
        await db.SaveChangesAsync(ct);
        if (idempotencyKey is not null)
        {
            await db.Database.ExecuteSqlAsync(
                $"UPDATE idempotency_keys SET post_id = {post.Id} WHERE user_id = {authorId} AND key = {idempotencyKey}", ct);
        }
        var deliveries = await WebhookPublisher.PublishAsync(
            (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)tx.GetDbTransaction(),
            WebhookEventTypes.PostCreated, PostEventData.From(post), clock.GetUtcNow(), ct);
        await tx.CommitAsync(ct);

        dispatcher.EnqueueDeliveriesSoon(deliveries);
        await AfterCommitAsync(post, outbox.Id);
        return new CreatePostResult(post, Replayed: false, KeyReusedWithOtherBody: false);
    }

    /// <summary>
    /// Best effort: the fan-out hand-over, the author's timeline and the post cache (so the author
    /// sees the post at once). If any of it fails, the outbox relay and the fan-out redo the work.
    /// </summary>
    private async Task AfterCommitAsync(Post post, long outboxId)
    {
        dispatcher.EnqueueSoon(new OutboxWork(outboxId, OutboxKind.PostCreated, post.Id, null, null));
        try
        {
            await Task.WhenAll(
                timelines.AddAsync(post.AuthorId, [post.Id]),
                cache.SetAsync(new CachedPost(post.Id, post.AuthorId, post.Body, post.CreatedAt)));
        }
        catch (Exception ex)
        {
            logger.LogWarning(ex, "Post {PostId} committed but its after-commit work failed; the outbox relay will retry it", post.Id);
        }
    }

    private async Task<CreatePostResult> ReplayAsync(long authorId, string key, string requestHash, CancellationToken ct)
    {
        var record = await db.IdempotencyRecords.AsNoTracking().SingleAsync(r => r.UserId == authorId && r.Key == key, ct);
        var post = await db.Posts.AsNoTracking().SingleAsync(p => p.Id == record.PostId, ct);
        return new CreatePostResult(post, Replayed: true, KeyReusedWithOtherBody: record.RequestHash != requestHash);
    }
}

public sealed record CreatePostResult(Post Post, bool Replayed, bool KeyReusedWithOtherBody);
