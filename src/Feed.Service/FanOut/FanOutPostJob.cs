using System.ComponentModel;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Outbox;
using Feed.Posts;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// First step of a fan-out: decides how a post reaches readers (pushed or merged at read time),
/// then splits the author's followers into keyset ranges and enqueues one
/// <see cref="FanOutBatchJob"/> per range, so a large audience is served by every worker in
/// parallel and a failure retries one batch.
/// </summary>
/// <remarks>
/// Idempotent: a second run starts a new generation of batches; only the newest generation
/// completes the outbox row, and feed inserts ignore posts already present.
/// </remarks>
public sealed class FanOutPostJob(
    NpgsqlDataSource postgres,
    AuthorTimelineStore timelines,
    IBackgroundJobClient jobs,
    FanOutCompletion completion,
    IOptions<FanOutOptions> options,
    ILogger<FanOutPostJob> logger)
{
    private const string LoadSql = """
        SELECT o.kind, o.completed_at IS NOT NULL, p.author_id, p.deleted_at IS NOT NULL
        FROM outbox o JOIN posts p ON p.id = o.post_id
        WHERE o.id = $1
        """;

    // Decides the strategy once: the first fan-out run fixes it from the author's current status.
    private const string DecideSql = """
        WITH decided AS (
            UPDATE posts p SET delivery = CASE WHEN u.is_celebrity THEN 2 ELSE 1 END
            FROM users u
            WHERE p.id = $1 AND u.id = p.author_id AND p.delivery = 0
            RETURNING p.delivery)
        SELECT delivery FROM decided
        UNION ALL
        SELECT delivery FROM posts WHERE id = $1 AND delivery <> 0
        """;

    private const string BoundarySql = """
        SELECT follower_id FROM follows WHERE followee_id = $1 AND follower_id > $2
        ORDER BY follower_id OFFSET $3 LIMIT 1
        """;

    private const string AnyAfterSql = "SELECT EXISTS (SELECT 1 FROM follows WHERE followee_id = $1 AND follower_id > $2)";

    private const string StartGenerationSql = """
        UPDATE outbox SET generation = generation + 1, batches_total = $2
        WHERE id = $1 AND completed_at IS NULL
        RETURNING generation
        """;

    private readonly FanOutOptions _options = options.Value;

    [Queue(JobQueues.FanOut)]
    [DisplayName("Fan out post {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long postId, long outboxId, CancellationToken ct)
    {
        var row = await LoadAsync(outboxId, ct);
        if (row is null || row.Completed)
        {
            return;
        }
        if (row.Kind == OutboxKind.PostCreated)
        {
            if (row.PostDeleted)
            {
                await completion.CompleteAsync(outboxId, ct);
                return;
            }
            // The API wrote the timeline after commit; this repeats it in case that write was lost.
            await timelines.AddAsync(row.AuthorId, [postId]);
        }

        var delivery = await DecideDeliveryAsync(postId, ct);
        if (delivery != PostDelivery.Pushed)
        {
            // Pulled posts reach readers through the author's timeline; nothing to push or remove.
            await completion.CompleteAsync(outboxId, ct);
            return;
        }

        var ranges = await SplitFollowersAsync(row.AuthorId, ct);
        var generation = await StartGenerationAsync(outboxId, ranges.Count, ct);
        if (generation is null)
        {
            return;
        }
        if (ranges.Count == 0)
        {
            await completion.CompleteAsync(outboxId, ct);
            return;
        }
        for (var i = 0; i < ranges.Count; i++)
        {
            var (after, last) = ranges[i];
            var index = i;
            jobs.Enqueue<FanOutBatchJob>(job =>
                job.RunAsync(postId, outboxId, generation.Value, index, after, last, CancellationToken.None));
        }
        logger.LogInformation(
            "Post {PostId} ({Kind}) split into {Batches} fan-out batches, generation {Generation}",
            postId, row.Kind, ranges.Count, generation);
    }

    /// <summary>Keyset ranges (after, last] of follower ids, each holding at most one batch of followers.</summary>
    private async Task<List<(long After, long Last)>> SplitFollowersAsync(long authorId, CancellationToken ct)
    {
        var ranges = new List<(long, long)>();
        var after = 0L;
        while (true)
        {
            await using var boundary = postgres.CreateCommand(BoundarySql);
            boundary.Parameters.Add(new NpgsqlParameter<long> { TypedValue = authorId });
            boundary.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
            boundary.Parameters.Add(new NpgsqlParameter<int> { TypedValue = _options.BatchSize - 1 });
            if (await boundary.ExecuteScalarAsync(ct) is long last)
            {
                ranges.Add((after, last));
                after = last;
                continue;
            }
            await using var any = postgres.CreateCommand(AnyAfterSql);
            any.Parameters.Add(new NpgsqlParameter<long> { TypedValue = authorId });
            any.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
            if (await any.ExecuteScalarAsync(ct) is true)
            {
                ranges.Add((after, long.MaxValue));
            }
            return ranges;
        }
    }

    private async Task<PostDelivery> DecideDeliveryAsync(long postId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(DecideSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = postId });
        return (PostDelivery)(short)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private async Task<int?> StartGenerationAsync(long outboxId, int batches, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(StartGenerationSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batches });
        return await cmd.ExecuteScalarAsync(ct) as int?;
    }

    private async Task<OutboxRow?> LoadAsync(long outboxId, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(LoadSql);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct))
        {
            return null;
        }
        return new OutboxRow((OutboxKind)reader.GetInt16(0), reader.GetBoolean(1), reader.GetInt64(2), reader.GetBoolean(3));
    }

    private sealed record OutboxRow(OutboxKind Kind, bool Completed, long AuthorId, bool PostDeleted);
}
