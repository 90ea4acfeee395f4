using System.Diagnostics;
using Feed.Infrastructure.Logging;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Feed.Infrastructure.Telemetry;

/// <summary>
/// OpenTelemetry: metrics for the Prometheus scrape endpoint (<c>/metrics</c>), traces from each
/// request through the jobs it causes into Postgres and Redis, and OTLP export of both when
/// <c>Telemetry:OtlpEndpoint</c> is set. Traces are made only when exported (or when
/// <c>Telemetry:Tracing</c> is true), sampled at <c>Telemetry:TraceSampleRatio</c> of new traces.
/// </summary>
internal static class TelemetryExtensions
{
    // Seconds: from a millisecond Redis push to a five-minute outbox redelivery.
    private static readonly double[] LatencyBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    public static void AddFeedTelemetry(this IServiceCollection services, IConfiguration config)
    {
        var endpoint = config["Telemetry:OtlpEndpoint"];
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(config["Telemetry:ServiceName"] ?? "feed"))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(FeedMetrics.MeterName)
                .AddView(FeedMetrics.FanOutLagName, new ExplicitBucketHistogramConfiguration { Boundaries = LatencyBuckets })
                .AddView(FeedMetrics.JobDurationName, new ExplicitBucketHistogramConfiguration { Boundaries = LatencyBuckets })
                .AddPrometheusExporter());
        // Spans cost every request, query and Redis command (the Redis instrumentation records each
        // command): they are only made when something receives them, and then for a share of traces.
        if (config.GetValue("Telemetry:Tracing", defaultValue: endpoint is { Length: > 0 }))
        {
            var ratio = config.GetValue("Telemetry:TraceSampleRatio", 1.0);
            if (ratio is < 0 or > 1)
            {
                throw new InvalidOperationException($"Telemetry:TraceSampleRatio must be between 0 and 1, not {ratio}.");
            }
            telemetry.WithTracing(tracing => tracing
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio)))
                .AddAspNetCoreInstrumentation(o =>
                {
                    o.Filter = http => !http.Request.Path.StartsWithSegments("/metrics");
                    o.EnrichWithHttpRequest = RedactQuery;
                })
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddRedisInstrumentation(redis => redis.FlushInterval = TimeSpan.FromSeconds(1))
                .AddSource(FeedTracing.JobsSourceName));
        }
        if (endpoint is { Length: > 0 })
        {
            telemetry.UseOtlpExporter(OpenTelemetry.Exporter.OtlpExportProtocol.Grpc, new Uri(endpoint));
        }
    }

    /// <summary>
    /// Sets a request span's <c>url.query</c> with every value redacted, as the logs have it
    /// (unsubscribe tokens travel in the query). The instrumentation already redacts values, but
    /// <c>OTEL_DOTNET_EXPERIMENTAL_ASPNETCORE_DISABLE_URL_QUERY_REDACTION</c> turns that off; this
    /// runs after it sets its tags, whatever that setting says.
    /// </summary>
    private static void RedactQuery(Activity activity, HttpRequest request)
    {
        if (request.QueryString.HasValue)
        {
            activity.SetTag("url.query", QueryRedaction.Redact(request.QueryString.Value!));
        }
    }
}
