using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Operations;

[Collection(AppCollection.Name)]
public sealed partial class TelemetryTests(FeedApp app)
{
    [Fact]
    public async Task Metrics_endpoint_shows_the_fan_out_lag_histogram_after_a_post()
    {
        var author = await app.CreateUserAsync("metered");
        // One more than a batch: the post job plans two batch jobs (a one-batch audience is written inline).
        await app.CreateFansAsync(author, FeedApp.BatchSize + 1);
        await author.PostAsync("measure me");
        await app.DrainAsync();
        await author.FeedPageAsync();

        var metrics = await ScrapeUntilAsync(text => Value(text, "feed_fanout_lag_seconds_count") > 0);

        Assert.True(Value(metrics, "feed_fanout_lag_seconds_count") > 0, "the fan-out lag histogram is empty");
        Assert.Contains("feed_fanout_lag_seconds_bucket{", metrics);
        Assert.True(Value(metrics, "feed_fanout_inserts_total") >= FeedApp.BatchSize + 1);
        Assert.Contains("feed_queue_depth{", metrics);
        Assert.Contains("feed_outbox_backlog", metrics);
        Assert.Matches(JobsMetric(), metrics);
        Assert.Contains("feed_post_cache_lookups_total{", metrics);
        Assert.Matches(RouteMetric(), metrics);
    }

    [Fact]
    public async Task A_trace_runs_from_the_request_through_the_jobs_it_caused_into_postgres_and_redis()
    {
        var author = await app.CreateUserAsync("traced");
        // More followers than a batch holds, so the trace crosses a second hop: the batch jobs.
        await app.CreateFansAsync(author, FeedApp.BatchSize + 1);
        var traceId = ActivityTraceId.CreateRandom();
        app.Traces.Watch(traceId);

        // The client's own span starts the trace; HttpClient sends it as the traceparent header.
        using (var client = new Activity("test client").SetParentId(traceId, ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded).Start())
        {
            var response = await author.Client.PostAsJsonAsync("/v1/posts", new { body = "follow me" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }
        await app.DrainAsync();

        IReadOnlyList<Activity> spans = [];
        for (var attempt = 0; attempt < 200; attempt++)
        {
            spans = app.Traces.Spans(traceId);
            // Redis spans are collected from its profiler about once a second.
            if (spans.Any(s => s.DisplayName.Contains("FanOutBatchJob")) && spans.Any(s => s.Source.Name.Contains("Redis")))
            {
                break;
            }
            await Task.Delay(50);
        }
        var names = string.Join(", ", spans.Select(s => $"{s.Source.Name}:{s.DisplayName}").Distinct());
        Assert.True(spans.Any(s => s.Kind == ActivityKind.Server && s.DisplayName.Contains("/v1/posts")), names);
        Assert.True(spans.Any(s => s.DisplayName == "job FanOutPostJob.RunAsync"), names);
        Assert.True(spans.Any(s => s.DisplayName == "job FanOutBatchJob.RunAsync"), names);
        Assert.True(spans.Any(s => s.Source.Name == "Npgsql"), names);
        Assert.True(spans.Any(s => s.Source.Name.Contains("Redis", StringComparison.OrdinalIgnoreCase)), names);
    }

    private async Task<string> ScrapeUntilAsync(Func<string, bool> ready)
    {
        var client = app.CreateClient();
        var text = "";
        for (var attempt = 0; attempt < 50; attempt++)
        {
            text = await client.GetStringAsync("/metrics");
            if (ready(text))
            {
                break;
            }
            await Task.Delay(100);
        }
        return text;
    }

    private static double Value(string metrics, string name)
    {
        var match = Regex.Match(metrics, $"^{Regex.Escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex("feed_jobs_total\\{[^}]*job=\"FanOutBatchJob.RunAsync\"[^}]*outcome=\"succeeded\"")]
    private static partial Regex JobsMetric();

    [GeneratedRegex("http_server_request_duration_seconds_count\\{[^}]*http_route=\"/v1/posts/\"")]
    private static partial Regex RouteMetric();
}
