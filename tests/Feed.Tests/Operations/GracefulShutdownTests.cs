using System.ComponentModel;
using Feed.Tests.Infrastructure;
using Hangfire;
using Hangfire.Redis.StackExchange;
using Hangfire.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Operations;

/// <summary>
/// A stopping worker either finishes a job within its shutdown timeout or returns it to the queue,
/// where another worker runs it; nothing is lost. (Fan-out jobs are idempotent, so a returned batch
/// that had half run is safe to run again: see Retried_batch_adds_nothing_twice.)
/// </summary>
[Collection(AppCollection.Name)]
public sealed class GracefulShutdownTests(FeedApp app)
{
    [Fact]
    public async Task A_job_interrupted_by_a_stopping_worker_is_returned_and_completed_by_another()
    {
        // The same Redis keys as the app's storage, but its own storage object on its own connection:
        // stopping a server unsubscribes its storage's job-fetch channel, which must not be the app's.
        var appStorage = (RedisStorage)app.Services.GetRequiredService<JobStorage>();
        var storage = new RedisStorage(app.RedisAdmin, new RedisStorageOptions { Prefix = "{hangfire}:", Db = app.RedisDb.Database });
        var runId = Guid.NewGuid();
        Assert.NotNull(appStorage);
        var jobId = app.Services.GetRequiredService<IBackgroundJobClient>().Enqueue<ShutdownProbeJob>(j => j.RunAsync(runId, CancellationToken.None));

        var stopping = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            ServerName = "stopping-worker",
            Queues = [ShutdownProbeJob.Queue],
            WorkerCount = 1,
            ShutdownTimeout = TimeSpan.FromSeconds(1),
        }, storage);
        await ShutdownProbeJob.WaitUntilStartedAsync(runId);
        stopping.SendStop();
        stopping.Dispose(); // waits the shutdown timeout, then cancels the job

        Assert.Equal(0, ShutdownProbeJob.Completions(runId));
        using var other = new BackgroundJobServer(new BackgroundJobServerOptions
        {
            ServerName = "other-worker",
            Queues = [ShutdownProbeJob.Queue],
            WorkerCount = 1,
        }, storage);
        for (var attempt = 0; attempt < 300 && ShutdownProbeJob.Completions(runId) == 0; attempt++)
        {
            await Task.Delay(100);
        }

        Assert.Equal(1, ShutdownProbeJob.Completions(runId));
        Assert.Equal(2, ShutdownProbeJob.Starts(runId));
        using var connection = storage.GetConnection();
        for (var attempt = 0; attempt < 50 && connection.GetStateData(jobId)?.Name != "Succeeded"; attempt++)
        {
            await Task.Delay(100);
        }
        Assert.Equal("Succeeded", connection.GetStateData(jobId)?.Name);
    }
}

/// <summary>A job that outlives the first worker's shutdown timeout, then completes on its second run.</summary>
public sealed class ShutdownProbeJob
{
    public const string Queue = "shutdown_probe";

    private static readonly Dictionary<Guid, (int Starts, int Completions)> Runs = [];

    [Queue(Queue)]
    [DisplayName("Shutdown probe {0}")]
    public async Task RunAsync(Guid runId, CancellationToken ct)
    {
        int starts;
        lock (Runs)
        {
            var run = Runs.GetValueOrDefault(runId);
            Runs[runId] = run with { Starts = starts = run.Starts + 1 };
        }
        // The first run takes far longer than the stopping worker's shutdown timeout.
        await Task.Delay(starts == 1 ? TimeSpan.FromMinutes(5) : TimeSpan.Zero, ct);
        lock (Runs)
        {
            Runs[runId] = Runs[runId] with { Completions = Runs[runId].Completions + 1 };
        }
    }

    public static int Starts(Guid runId)
    {
        lock (Runs)
        {
            return Runs.GetValueOrDefault(runId).Starts;
        }
    }

    public static int Completions(Guid runId)
    {
        lock (Runs)
        {
            return Runs.GetValueOrDefault(runId).Completions;
        }
    }

    public static async Task WaitUntilStartedAsync(Guid runId)
    {
        for (var attempt = 0; attempt < 300 && Starts(runId) == 0; attempt++)
        {
            await Task.Delay(50);
        }
        Assert.Equal(1, Starts(runId));
    }
}
