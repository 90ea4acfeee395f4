using System.Diagnostics;
using Feed.FanOut;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Feed.Tests.FanOut;

/// <summary>
/// What a post's fan-out costs Postgres: the statements a burst job of 16 posts (and a single post's
/// job) runs, counted from the job's trace (one Npgsql span per statement), and how many of them
/// write (each an autocommit, so a WAL flush). Reported per statement text; the assertions are on
/// counts, never on time. Before the set-based statement, 16 posts of authors without followers
/// took 80 statements of which 32 wrote; with one batch of followers, 96 and 32.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class FanOutBurstCostTests(FeedApp app, ITestOutputHelper output)
{
    private const int Posts = 16;

    [Fact]
    public async Task Burst_of_posts_by_authors_without_followers_costs_two_statements_and_one_commit()
    {
        var authors = await AuthorsAsync(fans: 0);

        var statements = await RunAsync(authors, (job, posts, rows) => job.RunManyAsync(posts, rows, CancellationToken.None));

        Report("16 posts, authors without followers", statements);
        Assert.Equal(2, statements.Count); // the open rows; the triage statement
        Assert.Equal(1, statements.Count(Writes));
    }

    [Fact]
    public async Task Burst_of_posts_by_authors_with_one_batch_of_followers_costs_a_follower_query_each_and_two_commits()
    {
        var authors = await AuthorsAsync(fans: 2);

        var statements = await RunAsync(authors, (job, posts, rows) => job.RunManyAsync(posts, rows, CancellationToken.None));

        Report("16 posts, authors with 2 active followers each", statements);
        Assert.Equal(3 + Posts, statements.Count); // the open rows; the triage; each post's active followers; one completion
        Assert.Equal(2, statements.Count(Writes));
    }

    [Fact]
    public async Task Single_post_by_an_author_without_followers_costs_two_statements_and_one_commit()
    {
        var author = await app.CreateUserAsync("alone");

        var statements = await RunAsync([author], (job, posts, rows) => job.RunAsync(posts[0], rows[0], CancellationToken.None));

        Report("1 post, author without followers", statements);
        Assert.Equal(2, statements.Count);
        Assert.Equal(1, statements.Count(Writes));
    }

    private async Task<List<TestUser>> AuthorsAsync(int fans)
    {
        var authors = new List<TestUser>();
        for (var i = 0; i < Posts; i++)
        {
            var author = await app.CreateUserAsync("author");
            await app.CreateFansAsync(author, fans);
            authors.Add(author);
        }
        await app.DrainAsync(); // the follows' own jobs, before the posts exist
        return authors;
    }

    /// <summary>One post per author, committed but not enqueued, fanned out by <paramref name="run"/>; returns the statements it ran.</summary>
    private async Task<List<string>> RunAsync(List<TestUser> authors, Func<FanOutPostJob, long[], long[], Task> run)
    {
        var postIds = new long[authors.Count];
        var outboxIds = new long[authors.Count];
        for (var i = 0; i < authors.Count; i++)
        {
            (postIds[i], outboxIds[i]) = await app.InsertUnpublishedPostAsync(authors[i].Id);
        }

        var traceId = ActivityTraceId.CreateRandom();
        app.Traces.Watch(traceId);
        using (var scope = app.Services.CreateScope())
        using (new Activity("fan-out").SetParentId(traceId, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
        {
            await run(ActivatorUtilities.CreateInstance<FanOutPostJob>(scope.ServiceProvider), postIds, outboxIds);
        }
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE id = ANY($1) AND completed_at IS NULL", outboxIds));

        // Statements only: opening a physical connection makes a span too.
        return [.. app.Traces.Spans(traceId)
            .Where(s => s.Source.Name == "Npgsql")
            .Select(s => s.GetTagItem("db.query.text")?.ToString())
            .OfType<string>()];
    }

    private static bool Writes(string sql) => sql.Contains("UPDATE ", StringComparison.Ordinal) || sql.Contains("INSERT ", StringComparison.Ordinal);

    private void Report(string what, List<string> statements)
    {
        output.WriteLine($"{what}: {statements.Count} statements, {statements.Count(Writes)} of them writing");
        foreach (var group in statements.GroupBy(Shorten).OrderByDescending(g => g.Count()))
        {
            output.WriteLine($"  {group.Count(),3} × {group.Key}");
        }
    }

    private static string Shorten(string sql)
    {
        var flat = string.Join(' ', sql.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= 110 ? flat : flat[..110] + "…";
    }
}
