using System.ComponentModel;
using Feed.Infrastructure.Hangfire;
using Feed.Outbox;
using Hangfire;
using Npgsql;

namespace Feed.FanOut;

/// <summary>
/// A celebrity dropped below the lower mark: their recent posts, which readers merged from
/// the author's timeline, are pushed into every active follower's feed in batches. Readers keep
/// merging the timeline until the last batch is done (<c>users.merge_timeline</c>), so no reader
/// loses a post across the transition; the merge deduplicates, so none sees one twice.
/// </summary>
public sealed class DemotedAuthorFanOutJob(NpgsqlDataSource postgres, FanOutPlanner planner)
{
    private const string OpenSql = "SELECT completed_at IS NULL FROM outbox WHERE id = $1";

    [Queue(JobQueues.FanOut)]
    [DisplayName("Push merged posts of demoted author {0}")]
    [AutomaticRetry(Attempts = 10)]
    public async Task RunAsync(long authorId, long outboxId, CancellationToken ct)
    {
        await using var open = postgres.CreateCommand(OpenSql);
        open.Parameters.Add(new NpgsqlParameter<long> { TypedValue = outboxId });
        if (await open.ExecuteScalarAsync(ct) is not true)
        {
            return;
        }
        await planner.PlanAsync(outboxId, OutboxKind.AuthorDemoted, authorId, postId: null, ct);
    }
}
