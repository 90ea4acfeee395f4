using Feed.Outbox;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// The Postgres side of starting the fan-out of a burst of posts (or of one), set-based: one read
/// of the open outbox rows, then one statement that decides every undecided post's delivery,
/// sizes each pushed post's audience, completes every row that needs nothing more and returns the
/// rest. A burst of posts whose authors have no follower (or are celebrities) costs two statements
/// and one commit, however many posts it holds.
/// </summary>
internal static class PostFanOutTriage
{
    /// <summary>Outbox kinds this triage handles: a post's push, and its removal after a delete.</summary>
    private const string PostKinds = "(1, 2)";

    private const string LoadSql = $"""
        SELECT o.id, o.kind, o.post_id, p.author_id, p.deleted_at IS NOT NULL
        FROM outbox o JOIN posts p ON p.id = o.post_id
        WHERE o.id = ANY($1) AND o.completed_at IS NULL AND o.kind IN {PostKinds}
        """;

    // $1 the outbox rows, $2 the batch size.
    //
    // decided: the first decision wins and is never changed. The rows to decide are those the
    // snapshot shows undecided, chosen by id (an InitPlan array), not by "delivery = 0": if another
    // run decides a post while this statement waits for its row lock, Postgres re-checks the WHERE
    // on the newest row version (which still matches by id) and evaluates the SET there, so the CASE
    // keeps that run's decision and RETURNING reports it. (A "delivery = 0" condition would skip the
    // row instead, and this statement's snapshot could not see the decision: the single-post job
    // needed a second statement with a fresh snapshot for that.) A post a PostCreated row finds
    // deleted is not decided, as before; its removal row (PostDeleted) decides it.
    //
    // audience: followers counted up to one more than a batch, an index-only hop along
    // (followee_id, follower_id) per distinct author: none, one batch, or several. Materialized:
    // inlined, the planner ran the count once per row and author pair (118 counts for 16 posts).
    //
    // plan: 0 = complete now (deleted before its fan-out, merged at read time, or no follower),
    // 1 = one batch, 2 = several batches, -1 = undecided (its post row vanished): left open.
    //
    // done: post rows never stop a demotion's merge (FanOutCompletion's StopMerging is about kind 5),
    // so completing here needs only the lag.
    private const string TriageSql = $"""
        WITH burst AS MATERIALIZED (
            SELECT o.id, o.kind, o.post_id, p.author_id, p.deleted_at IS NOT NULL AS deleted, p.delivery
            FROM outbox o JOIN posts p ON p.id = o.post_id
            WHERE o.id = ANY($1) AND o.completed_at IS NULL AND o.kind IN {PostKinds}),
        decided AS (
            UPDATE posts p SET delivery = CASE WHEN p.delivery <> 0 THEN p.delivery WHEN u.is_celebrity THEN 2 ELSE 1 END
            FROM users u
            WHERE p.id = ANY(ARRAY(SELECT post_id FROM burst WHERE delivery = 0 AND NOT (kind = 1 AND deleted)))
              AND u.id = p.author_id
            RETURNING p.id, p.delivery),
        judged AS (
            SELECT b.id, b.kind, b.post_id, b.author_id, b.kind = 1 AND b.deleted AS gone, coalesce(d.delivery, b.delivery) AS delivery
            FROM burst b LEFT JOIN decided d ON d.id = b.post_id),
        audience AS MATERIALIZED (
            SELECT a.author_id, (SELECT count(*) FROM (SELECT 1 FROM follows f WHERE f.followee_id = a.author_id LIMIT $2 + 1) s) AS followers
            FROM (SELECT DISTINCT author_id FROM judged WHERE delivery = 1 AND NOT gone) a),
        plan AS (
            SELECT j.id, j.kind, j.post_id, j.author_id,
                   CASE WHEN j.gone OR j.delivery = 2 THEN 0
                        WHEN j.delivery <> 1 THEN -1
                        WHEN a.followers = 0 THEN 0
                        WHEN a.followers <= $2 THEN 1
                        ELSE 2 END AS batches
            FROM judged j LEFT JOIN audience a ON a.author_id = j.author_id),
        done AS (
            UPDATE outbox SET completed_at = now()
            WHERE id = ANY(ARRAY(SELECT id FROM plan WHERE batches = 0)) AND completed_at IS NULL
            RETURNING id, kind, created_at)
        SELECT id, kind, post_id, author_id, batches, NULL::float8 FROM plan WHERE batches > 0
        UNION ALL
        SELECT id, kind, NULL, NULL, 0, extract(epoch FROM clock_timestamp() - created_at)::float8 FROM done
        """;

    /// <summary>The open post rows among <paramref name="outboxIds"/> (unknown and completed rows left out), read without locks.</summary>
    public static async Task<List<OpenPostRow>> LoadOpenAsync(NpgsqlDataSource postgres, long[] outboxIds, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(LoadSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = outboxIds });
        var rows = new List<OpenPostRow>(outboxIds.Length);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            rows.Add(new OpenPostRow(reader.GetInt64(0), (OutboxKind)reader.GetInt16(1), reader.GetInt64(2), reader.GetInt64(3), reader.GetBoolean(4)));
        }
        return rows;
    }

    /// <summary>
    /// Decides, sizes and completes what it can of the open rows among <paramref name="outboxIds"/>
    /// in one statement (one commit); rows completed meanwhile by another run are left alone.
    /// </summary>
    /// <returns>The rows that still need feed writes, and the rows this call completed.</returns>
    public static async Task<TriageResult> TriageAsync(NpgsqlDataSource postgres, long[] outboxIds, int batchSize, CancellationToken ct)
    {
        await using var cmd = postgres.CreateCommand(TriageSql);
        cmd.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = outboxIds });
        cmd.Parameters.Add(new NpgsqlParameter<int> { TypedValue = batchSize });
        var result = new TriageResult([], []);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var kind = (OutboxKind)reader.GetInt16(1);
            if (reader.IsDBNull(5))
            {
                result.Work.Add(new PostWork(reader.GetInt64(0), kind, reader.GetInt64(2), reader.GetInt64(3), SeveralBatches: reader.GetInt32(4) > 1));
            }
            else
            {
                result.Completed.Add(new CompletedRow(reader.GetInt64(0), kind, reader.GetDouble(5)));
            }
        }
        return result;
    }
}

/// <summary>An open outbox row of post work, with its post's author and whether the post is deleted.</summary>
internal sealed record OpenPostRow(long OutboxId, OutboxKind Kind, long PostId, long AuthorId, bool PostDeleted);

/// <summary>A pushed post whose followers need feed writes: one batch (written by the post job) or several (batch jobs).</summary>
internal sealed record PostWork(long OutboxId, OutboxKind Kind, long PostId, long AuthorId, bool SeveralBatches);

/// <summary>An outbox row the triage completed, with its lag from commit to done in seconds.</summary>
internal sealed record CompletedRow(long OutboxId, OutboxKind Kind, double LagSeconds);

internal sealed record TriageResult(List<PostWork> Work, List<CompletedRow> Completed);
