using Feed.Outbox;
using Hangfire;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// Splits an author's followers into keyset ranges of one batch each and enqueues a
/// <see cref="FanOutBatchJob"/> per range, under a new generation of the outbox row. An audience
/// that fits in one batch — nearly every author — is written right here instead: a second
/// Hangfire hop would cost more than the batch itself (docs/performance.md).
/// </summary>
/// <remarks>
/// Posts reach it only with more than one batch of followers: <see cref="FanOutPostJob"/> sizes
/// every audience in its triage statement and writes one-batch audiences itself. Demotions
/// (<see cref="DemotedAuthorFanOutJob"/>) come here whatever their size.
/// </remarks>
public sealed class FanOutPlanner(
    NpgsqlDataSource postgres,
    IBackgroundJobClient jobs,
    FanOutRangeWriter writer,
    FanOutCompletion completion,
    IOptions<FanOutOptions> options,
    ILogger<FanOutPlanner> logger)
{
    // One index-only hop of batch-size rows along (followee_id, follower_id) per range.
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

    /// <summary>
    /// Plans and enqueues the batches for outbox row <paramref name="outboxId"/> (of kind
    /// <paramref name="kind"/>) over the followers of <paramref name="authorId"/>; completes the row at
    /// once when there are none, and after writing the batch itself when there is one.
    /// <paramref name="postId"/> is the post for post work, null for author work (a demotion).
    /// </summary>
    /// <remarks>
    /// Completing a one-batch row directly, without a generation, is safe next to any other run of
    /// the same row: this run has written to every follower its query saw, and a follower added
    /// after that query is backfilled by the follow's own job.
    /// </remarks>
    internal async Task PlanAsync(long outboxId, OutboxKind kind, long authorId, long? postId, CancellationToken ct)
    {
        var ranges = await SplitFollowersAsync(authorId, ct);
        if (ranges.Count <= 1)
        {
            if (ranges.Count == 1)
            {
                await writer.ApplyAsync(new FanOutRow(kind, authorId, PostDeleted: false), postId, ranges[0].After, ranges[0].Last, ct);
            }
            await completion.CompleteAsync(outboxId, ct);
            return;
        }
        await using var start = postgres.CreateCommand(StartGenerationSql);
        start.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        start.Parameters.Add(new NpgsqlParameter<int> { TypedValue = ranges.Count });
        if (await start.ExecuteScalarAsync(ct) is not int generation)
        {
            return; // completed meanwhile by another run
        }
        for (var i = 0; i < ranges.Count; i++)
        {
            var (after, last) = ranges[i];
            var index = i;
            if (postId is { } post)
            {
                jobs.Enqueue<FanOutBatchJob>(job => job.RunAsync(post, outboxId, generation, index, after, last, CancellationToken.None));
            }
            else
            {
                jobs.Enqueue<FanOutBatchJob>(job => job.RunForAuthorAsync(authorId, outboxId, generation, index, after, last, CancellationToken.None));
            }
        }
        logger.LogInformation(
            "Outbox {OutboxId} (author {AuthorId}, post {PostId}) split into {Batches} fan-out batches, generation {Generation}",
            outboxId, authorId, postId, ranges.Count, generation);
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
}
