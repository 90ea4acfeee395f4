using Feed.Auth;
using Feed.Digests;
using Feed.FanOut;
using Feed.Feeds;
using Feed.Follows;
using Feed.Infrastructure.Auth;
using Feed.Infrastructure.Hangfire;
using Feed.Infrastructure.Health;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Logging;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Protection;
using Feed.Infrastructure.Telemetry;
using Feed.Infrastructure.Redis;
using Feed.Outbox;
using Feed.Posts;
using Feed.Users;
using Feed.Webhooks;
using Hangfire;
using Hangfire.Redis.StackExchange;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using Npgsql;
using Scalar.AspNetCore;
using StackExchange.Redis;

namespace Feed.Extensions;

/// <summary>Service wiring and the HTTP pipeline; <c>Program.cs</c> only calls these.</summary>
public static class Extensions
{
    public static void AddApplicationServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        var config = builder.Configuration;

        services.AddValidatedOptions<FanOutOptions>(config, FanOutOptions.Section);
        services.AddValidatedOptions<FeedOptions>(config, FeedOptions.Section);
        services.AddValidatedOptions<OutboxOptions>(config, OutboxOptions.Section);
        services.AddValidatedOptions<AuthOptions>(config, AuthOptions.Section);
        services.AddValidatedOptions<RedisOptions>(config, RedisOptions.Section);
        services.AddValidatedOptions<WorkerOptions>(config, WorkerOptions.Section);
        services.AddValidatedOptions<MaintenanceOptions>(config, MaintenanceOptions.Section);
        services.AddValidatedOptions<ProtectionOptions>(config, ProtectionOptions.Section);
        services.AddValidatedOptions<WebhookOptions>(config, WebhookOptions.Section);
        services.AddValidatedOptions<DigestOptions>(config, DigestOptions.Section);
        services.AddSingleton(TimeProvider.System);
        // Request URLs carry unsubscribe tokens: no log provider sees a query parameter's value.
        services.AddQueryRedactingLogging();

        // Postgres: one data source for raw SQL on hot paths, EF Core for the rest and for migrations.
        var connectionString = config.GetConnectionString("Postgres")
            ?? throw new InvalidOperationException("ConnectionStrings:Postgres is not set.");
        services.AddSingleton(_ =>
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            if (!Mentions(connectionString, "Auto Prepare", "AutoPrepare"))
            {
                // Statements run twice on a connection are prepared there: parsing and planning the
                // post statement's CTEs cost Postgres more than running them (docs/performance.md).
                builder.ConnectionStringBuilder.MaxAutoPrepare = 128;
                builder.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            }
            if (!Mentions(connectionString, "Reset On Close", "ResetOnClose"))
            {
                // The service keeps no session state (no SET, temporary table or LISTEN; transactions
                // end before a connection goes back; AdvisoryLock clears the pool when an unlock
                // fails), so the seven-statement reset on every return is skipped: it was most of
                // Postgres's statements under a post burst (docs/performance.md).
                builder.ConnectionStringBuilder.NoResetOnClose = true;
            }
            return builder.Build();
        });
        // The options are built once: built per context (the default), they cost a post request
        // about a tenth of its CPU (docs/performance.md).
        services.AddDbContext<FeedDbContext>(
            (sp, options) => options.UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>()).UseSnakeCaseNamingConvention(),
            contextLifetime: ServiceLifetime.Scoped,
            optionsLifetime: ServiceLifetime.Singleton);

        // Redis: one multiplexer per process, shared by the feed stores and Hangfire's storage.
        services.AddSingleton<IConnectionMultiplexer>(sp =>
        {
            var options = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration);
            options.AbortOnConnectFail = false;
            // While Redis is unreachable, fail at once (503) instead of queueing requests until a timeout.
            options.BacklogPolicy = BacklogPolicy.FailFast;
            return ConnectionMultiplexer.Connect(options);
        });

        services.AddSingleton<FeedMetrics>();
        services.AddSingleton<JobTelemetryFilter>();
        services.AddFeedTelemetry(config);

        services.AddHangfire((sp, hangfire) => hangfire
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseFilter(sp.GetRequiredService<JobTelemetryFilter>())
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseRedisStorage(sp.GetRequiredService<IConnectionMultiplexer>(), new RedisStorageOptions
            {
                Prefix = sp.GetRequiredService<IOptions<RedisOptions>>().Value.HangfirePrefix,
                // Workers wake on a pub/sub message when a job is enqueued; should a message be lost,
                // they still look every two seconds instead of Hangfire.Redis's much longer default.
                FetchTimeout = TimeSpan.FromSeconds(2),
                // Hangfire ignores the multiplexer's default database unless told.
                Db = ConfigurationOptions.Parse(sp.GetRequiredService<IOptions<RedisOptions>>().Value.Configuration).DefaultDatabase ?? 0,
                // Jobs fetched by a worker that died are handed out again after this (default 30 min).
                InvisibilityTimeout = sp.GetRequiredService<IOptions<WorkerOptions>>().Value.InvisibilityTimeout,
            }));

        var worker = config.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        // The host waits for Hangfire's own shutdown timeout (running jobs finish or are re-queued).
        services.Configure<HostOptions>(host => host.ShutdownTimeout = worker.ShutdownTimeout + TimeSpan.FromSeconds(5));
        ThreadPool.GetMinThreads(out var minWorkerThreads, out var minIoThreads);
        ThreadPool.SetMinThreads(Math.Max(minWorkerThreads, worker.MinThreadPoolThreads), minIoThreads);
        if (worker.IsWorker)
        {
            // One server per queue, each with its own workers: no queue's backlog can starve another.
            foreach (var queue in worker.ServedQueues)
            {
                services.AddHangfireServer((sp, server) =>
                {
                    var options = sp.GetRequiredService<IOptions<WorkerOptions>>().Value;
                    server.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}:{queue}";
                    server.Queues = [queue];
                    server.WorkerCount = options.WorkersFor(queue);
                    server.ShutdownTimeout = options.ShutdownTimeout;
                    server.HeartbeatInterval = options.HeartbeatInterval;
                    server.SchedulePollingInterval = options.SchedulePollingInterval;
                });
            }
            services.AddHostedService<OutboxRelay>();
            services.AddHostedService<WebhookDeliveryRelay>();
            services.AddHostedService<RecurringJobsRegistrar>();
            services.AddHostedService<WorkerHeartbeat>();
        }

        services.AddSingleton<FanOutBacklog>();
        services.AddHostedService(sp => sp.GetRequiredService<FanOutBacklog>());
        services.AddSingleton<WriteRateLimiter>();
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<ProtectionOptions>>(
            (kestrel, protection) => kestrel.Limits.MaxRequestBodySize = protection.Value.MaxRequestBodyBytes);

        services.AddSingleton<TokenIssuer>();
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer()
            .AddScheme<AuthenticationSchemeOptions, PartnerAuthenticationHandler>(PartnerAuthenticationHandler.SchemeName, null);
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<AuthOptions>>((jwt, auth) => ConfigureJwt(jwt, auth.Value));
        services.AddAuthorization(Policies.Add);

        services.AddProblemDetails();
        services.AddExceptionHandler<ProblemExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddOpenApi(OpenApiConventions.Configure);
        services.AddFeedHealthChecks();

        services.AddScoped<CreatePostService>();
        services.AddScoped<DeletePostService>();
        services.AddScoped<FollowService>();
        services.AddSingleton<OutboxDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxDispatcher>());
        services.AddSingleton<FanOutCompletion>();
        services.AddSingleton<FanOutRangeWriter>();
        services.AddSingleton<FanOutPlanner>();
        services.AddSingleton<RedisTopology>();
        services.AddSingleton<FeedStore>();
        services.AddSingleton<AuthorTimelineStore>();
        services.AddSingleton<PostCache>();
        services.AddSingleton<FeedRebuilder>();
        services.AddSingleton<HomeFeedReader>();
        services.AddSingleton<ReaderGraphCache>();

        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<WebhookUrlGuard>();
        // Deliveries: no redirects, no cookies, and every connection dialled through the SSRF guard.
        services.AddHttpClient(DeliverWebhookJob.HttpClientName, client => client.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp => new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                UseCookies = false,
                ConnectCallback = sp.GetRequiredService<WebhookUrlGuard>().ConnectAsync,
                ConnectTimeout = sp.GetRequiredService<IOptions<WebhookOptions>>().Value.Timeout,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            })
            .RemoveAllLoggers();

        services.AddSingleton<UnsubscribeTokens>();
        services.AddSingleton<DigestComposer>();
        services.AddSingleton<DigestMailer>();
    }

    /// <summary>
    /// The HTTP pipeline. Every process serves health and metrics; only the <c>api</c> role serves
    /// the API, its documentation and the dashboard.
    /// </summary>
    public static void MapFeedApi(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapFeedHealthChecks();
        app.MapPrometheusScrapingEndpoint("/metrics");
        if (!app.Services.GetRequiredService<IOptions<WorkerOptions>>().Value.IsApi)
        {
            return;
        }

        app.MapOpenApi();
        app.MapScalarApiReference();
        app.UseHangfireDashboard("/hangfire", new DashboardOptions
        {
            DashboardTitle = "Feed jobs",
            Authorization = [], // replaces Hangfire's local-requests-only default: locality grants nothing
            AsyncAuthorization = [new DashboardAccess(app.Configuration)],
            IsReadOnlyFunc = DashboardAccess.IsReadOnly,
            DisplayStorageConnectionString = false,
        });

        app.MapAuthApi();
        app.MapUsersApi();
        app.MapUserSettingsApi();
        app.MapFollowsApi();
        app.MapPostsApi();
        app.MapFeedsApi();
        app.MapPartnersApi();
        app.MapWebhooksApi();
        app.MapDigestsApi();
    }

    /// <summary>Applies pending EF Core migrations (the <c>migrate</c> command).</summary>
    public static async Task MigrateDatabaseAsync(this IServiceProvider services)
    {
        await using var scope = services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<FeedDbContext>().Database.MigrateAsync();
    }

    private static bool Mentions(string connectionString, params string[] keywords) =>
        keywords.Any(k => connectionString.Contains(k, StringComparison.OrdinalIgnoreCase));

    private static void AddValidatedOptions<T>(this IServiceCollection services, IConfiguration config, string section)
        where T : class =>
        services.AddOptions<T>().Bind(config.GetSection(section)).ValidateDataAnnotations().ValidateOnStart();

    private static void ConfigureJwt(JwtBearerOptions jwt, AuthOptions auth)
    {
        jwt.MapInboundClaims = false;
        jwt.TokenValidationParameters = new TokenValidationParameters
        {
            ValidIssuer = auth.Issuer,
            ValidAudience = auth.Audience,
            IssuerSigningKey = TokenIssuer.SigningKey(auth),
            ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
            ClockSkew = TimeSpan.FromSeconds(30),
            NameClaimType = "sub",
            RoleClaimType = Roles.ClaimType,
        };
        jwt.Events = new JwtBearerEvents
        {
            OnChallenge = async context =>
            {
                context.HandleResponse();
                var detail = context.AuthenticateFailure switch
                {
                    SecurityTokenExpiredException => "The access token has expired.",
                    not null => "The access token is invalid.",
                    null => "An access token is required (Authorization: Bearer <token>).",
                };
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context.HttpContext,
                    ProblemDetails = { Status = StatusCodes.Status401Unauthorized, Title = "Unauthorized", Detail = detail },
                });
            },
        };
    }
}
