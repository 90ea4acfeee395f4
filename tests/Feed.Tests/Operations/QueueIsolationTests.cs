using System.ComponentModel;
using Feed.Feeds;
using Feed.Infrastructure.Hangfire;
using Feed.Tests.Infrastructure;
using Hangfire;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Operations;

/// <summary>Bulk queues have their own workers: a backlog there never delays fan-out.</summary>
[Collection(AppCollection.Name)]
public sealed class QueueIsolationTests(FeedApp app)
{
    private const int Backlog = 200;

    [Fact]
    public async Task A_large_digest_and_webhook_backlog_does_not_delay_fan_out()
    {
        var author = await app.CreateUserAsync("urgent");
        var fans = await app.CreateFansAsync(author, 3);
        await app.DrainAsync();
        var jobs = app.Services.GetRequiredService<IBackgroundJobClient>();
        var storage = app.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        try
        {
            for (var i = 0; i < Backlog; i++)
            {
                jobs.Enqueue<SlowBulkJobs>(j => j.DigestAsync(i));
                jobs.Enqueue<SlowBulkJobs>(j => j.WebhookAsync(i));
            }

            var post = await author.PostAsync("must not wait behind the bulk queues");
            await app.DrainAsync();

            foreach (var fan in fans)
            {
                Assert.Contains(long.Parse(post.Id), await app.Services.GetRequiredService<FeedStore>().GetAllAsync(fan.Id));
            }
            // Every worker of the bulk queues is busy with a job that takes seconds, and none has
            // finished: a shared worker pool would have made the fan-out wait for one.
            Assert.Equal(0, SlowBulkJobs.Finished);
            // The fan-out finished while both bulk queues were still far from done.
            Assert.True(storage.EnqueuedCount(JobQueues.Digests) > Backlog / 2, $"digests left: {storage.EnqueuedCount(JobQueues.Digests)}");
            Assert.True(storage.EnqueuedCount(JobQueues.Webhooks) > Backlog / 2, $"webhooks left: {storage.EnqueuedCount(JobQueues.Webhooks)}");
        }
        finally
        {
            // Nothing of the backlog may outlive the test: a slow job still running (or re-queued by
            // Hangfire's fetched-jobs watcher) would hold the webhook and digest workers of later tests.
            SlowBulkJobs.ReleaseAll();
            await app.RedisDb.KeyDeleteAsync(["{hangfire}:queue:digests", "{hangfire}:queue:webhooks"]);
        }
    }
}

/// <summary>Stand-ins for digest and webhook jobs: slow, and on their own queues.</summary>
public sealed class SlowBulkJobs
{
    private static readonly TimeSpan Duration = TimeSpan.FromSeconds(5);
    private static readonly TaskCompletionSource Released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static int _finished;

    public static int Finished => Volatile.Read(ref _finished);

    /// <summary>Ends every run, current and future, at once.</summary>
    public static void ReleaseAll() => Released.TrySetResult();

    [Queue(JobQueues.Digests)]
    [DisplayName("Slow test digest {0}")]
    public async Task DigestAsync(int n)
    {
        await Task.WhenAny(Released.Task, Task.Delay(Duration));
        Interlocked.Increment(ref _finished);
    }

    [Queue(JobQueues.Webhooks)]
    [DisplayName("Slow test webhook {0}")]
    public async Task WebhookAsync(int n)
    {
        await Task.WhenAny(Released.Task, Task.Delay(Duration));
        Interlocked.Increment(ref _finished);
    }
}
