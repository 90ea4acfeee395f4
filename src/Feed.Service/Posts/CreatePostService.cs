using System.Globalization;
using Feed.Feeds;
using Feed.Infrastructure.Postgres;
using Feed.Outbox;
using Feed.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Feed.Posts;

/// <summary>
/// Writes a post: the post row, its outbox row, its webhook deliveries and (with an idempotency key)
/// the key's record, in one statement — one round trip and one commit; fan-out and deliveries are
/// enqueued after the commit and never awaited.
/// </summary>
public sealed class CreatePostService(
    NpgsqlDataSource postgres,
    FeedDbContext db,
    OutboxDispatcher dispatcher,
    AuthorTimelineStore timelines,
    PostCache cache,
    IOptions<OutboxOptions> outboxOptions,
    TimeProvider clock,
    ILogger<CreatePostService> logger)
{
    // $1 author, $2 body, $3 now, $4 outbox next attempt, $5 / $6 the webhook body around the id.
    // The id is drawn first so that the key's record can name the post it claims. {0}: the key's
    // claim, {1}: the condition on it, {2}: the webhook CTEs.
    private const string InsertSql = """
        WITH i AS (SELECT feed_next_id() AS id){0},
        p AS (
            INSERT INTO posts (id, author_id, body, created_at) SELECT i.id, $1, $2, $3 FROM i {1}
            RETURNING id),
        o AS (
            INSERT INTO outbox (kind, post_id, next_attempt_at) SELECT 1, p.id, $4 FROM p
            RETURNING id),
        {2}
        SELECT p.id, o.id, ARRAY(SELECT id FROM d) FROM p, o
        """;

    // With an idempotency key ($7, request hash $8): the claim blocks behind a concurrent request with
    // the same key until it commits; then it inserts nothing, and neither does anything after it.
    private const string ClaimSql = """
        ,
        c AS (
            INSERT INTO idempotency_keys (user_id, key, request_hash, post_id) SELECT $1, $7, $8, i.id FROM i
            ON CONFLICT DO NOTHING
            RETURNING 1)
        """;

    private static readonly string Publish = WebhookPublisher.InlinePublishCtes("'" + WebhookEventTypes.PostCreated + "'", "$5", "$6", "$3");

    private static readonly string WithoutKey = string.Format(CultureInfo.InvariantCulture, InsertSql, "", "", Publish);

    private static readonly string WithKey = string.Format(CultureInfo.InvariantCulture, InsertSql, ClaimSql, "WHERE EXISTS (SELECT 1 FROM c)", Publish);

    public async Task<CreatePostResult> CreateAsync(long authorId, string body, string? idempotencyKey, string requestHash, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        // Postgres keeps microseconds: the response shows what a later read will.
        var createdAt = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % 10), TimeSpan.Zero);
        var (before, after) = WebhookPublisher.BodyAround(
            WebhookEventTypes.PostCreated, id => new PostEventData(id, authorId.ToString(CultureInfo.InvariantCulture), body, createdAt), now);

        await using var cmd = postgres.CreateCommand(idempotencyKey is null ? WithoutKey : WithKey);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = authorId });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = body });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = createdAt });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now + outboxOptions.Value.RedeliverAfter });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = before, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = after, NpgsqlDbType = NpgsqlDbType.Text });
        if (idempotencyKey is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = idempotencyKey });
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = requestHash });
        }

        Post? post = null;
        long outboxId = 0;
        long[] deliveries = [];
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (await reader.ReadAsync(ct))
            {
                post = new Post { Id = reader.GetInt64(0), AuthorId = authorId, Body = body, CreatedAt = createdAt };
                outboxId = reader.GetInt64(1);
                deliveries = reader.GetFieldValue<long[]>(2);
            }
        }
        if (post is null)
        {
            return await ReplayAsync(authorId, idempotencyKey!, requestHash, ct);
        }

        dispatcher.EnqueueDeliveriesSoon([.. deliveries]);
        await AfterCommitAsync(post, outboxId);
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
                cache.SetAsync(post.Id, post.AuthorId, post.Body, post.CreatedAt));
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
