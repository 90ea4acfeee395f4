using System.ComponentModel.DataAnnotations;
using Feed.Digests;
using Feed.Feeds;
using Feed.Follows;
using Feed.Maintenance;
using Feed.Outbox;
using Hangfire;
using Microsoft.Extensions.Options;

namespace Feed.Infrastructure.Hangfire;

/// <summary>
/// Registers the recurring jobs, and registers them again every few minutes: Hangfire keeps them in
/// Redis, and a flushed or replaced Redis must not silently stop the maintenance crons.
/// </summary>
internal sealed class RecurringJobsRegistrar(
    IRecurringJobManager recurringJobs,
    IOptions<MaintenanceOptions> options,
    IOptions<DigestOptions> digestOptions,
    ILogger<RecurringJobsRegistrar> logger) : BackgroundService
{
    private static readonly TimeSpan ReassertEvery = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        do
        {
            try
            {
                Register();
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "Could not register recurring jobs; retrying in {Delay}", ReassertEvery);
            }
            await Task.Delay(ReassertEvery, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        while (!stoppingToken.IsCancellationRequested);
    }

    /// <summary>Every recurring job, by id; the dashboard shows each job's <c>DisplayName</c>. Idempotent.</summary>
    internal void Register()
    {
        var utc = new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc };
        var maintenance = options.Value;
        recurringJobs.AddOrUpdate<ScheduleDigestsJob>(
            ScheduleDigestsJob.RecurringJobId, job => job.RunAsync(null, CancellationToken.None), digestOptions.Value.ScheduleCron, utc);
        recurringJobs.AddOrUpdate<SweepOutboxJob>(
            SweepOutboxJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), maintenance.SweepOutboxCron, utc);
        recurringJobs.AddOrUpdate<TrimFeedsJob>(
            TrimFeedsJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), maintenance.TrimFeedsCron, utc);
        recurringJobs.AddOrUpdate<ReconcileFollowCountsJob>(
            ReconcileFollowCountsJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), maintenance.ReconcileFollowCountsCron, utc);
        recurringJobs.AddOrUpdate<RetentionJob>(
            RetentionJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), maintenance.RetentionCron, utc);
    }
}

/// <summary>
/// Schedules of the maintenance crons (cron expressions, UTC) and how long their data is kept.
/// Bound from the <c>Maintenance</c> section; a bad cron stops the process at start-up.
/// </summary>
public sealed class MaintenanceOptions : IValidatableObject
{
    public const string Section = "Maintenance";

    [Required]
    public string ReconcileFollowCountsCron { get; set; } = "*/15 * * * *";

    /// <summary>Deletes finished outbox rows and expired idempotency keys (<see cref="SweepOutboxJob"/>).</summary>
    [Required]
    public string SweepOutboxCron { get; set; } = "*/30 * * * *";

    /// <summary>Trims home feeds and drops those of inactive readers (<see cref="TrimFeedsJob"/>).</summary>
    [Required]
    public string TrimFeedsCron { get; set; } = "40 3 * * *";

    /// <summary>Purges records past their retention (<see cref="RetentionJob"/>).</summary>
    [Required]
    public string RetentionCron { get; set; } = "20 4 * * *";

    /// <summary>How long a finished outbox row is kept (for investigating a fan-out) before the sweeper deletes it.</summary>
    public TimeSpan CompletedOutboxRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a POST's <c>Idempotency-Key</c> is remembered; a retry after that creates a new post.</summary>
    public TimeSpan IdempotencyKeyRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long digest rows (what was sent to whom, and when) are kept.</summary>
    public TimeSpan DigestRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>
    /// How long webhook events are kept with their deliveries and attempt logs (what partners can list
    /// and replay). At least the retry schedule's span, so nothing in flight is purged.
    /// </summary>
    public TimeSpan WebhookRetention { get; set; } = TimeSpan.FromDays(30);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, cron) in new[]
        {
            ("Maintenance:ReconcileFollowCountsCron", ReconcileFollowCountsCron),
            ("Maintenance:SweepOutboxCron", SweepOutboxCron),
            ("Maintenance:TrimFeedsCron", TrimFeedsCron),
            ("Maintenance:RetentionCron", RetentionCron),
        })
        {
            if (CronSchedules.Error(name, cron) is { } error)
            {
                yield return new ValidationResult(error);
            }
        }
        if (CompletedOutboxRetention < TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Maintenance:CompletedOutboxRetention must be at least one hour.");
        }
        if (IdempotencyKeyRetention < TimeSpan.FromMinutes(5))
        {
            yield return new ValidationResult("Maintenance:IdempotencyKeyRetention must be at least five minutes.");
        }
        if (WebhookRetention < TimeSpan.FromDays(4))
        {
            // The default retry schedule spans about three days: a shorter retention would purge deliveries still retrying.
            yield return new ValidationResult("Maintenance:WebhookRetention must be at least 4 days.");
        }
        if (DigestRetention < TimeSpan.FromDays(8))
        {
            // Shorter could delete a digest row while its week (and delivery window) is still current: it would be sent again.
            yield return new ValidationResult("Maintenance:DigestRetention must be at least 8 days.");
        }
    }
}
