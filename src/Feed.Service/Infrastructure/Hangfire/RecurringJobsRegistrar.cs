using System.ComponentModel.DataAnnotations;
using Feed.Digests;
using Feed.Follows;
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

    /// <summary>Every recurring job, by id; the dashboard shows each job's <c>DisplayName</c>.</summary>
    private void Register()
    {
        var utc = new RecurringJobOptions { TimeZone = TimeZoneInfo.Utc };
        recurringJobs.AddOrUpdate<ScheduleDigestsJob>(
            ScheduleDigestsJob.RecurringJobId, job => job.RunAsync(null, CancellationToken.None), digestOptions.Value.ScheduleCron, utc);
        recurringJobs.AddOrUpdate<ReconcileFollowCountsJob>(
            ReconcileFollowCountsJob.RecurringJobId, job => job.RunAsync(CancellationToken.None), options.Value.ReconcileFollowCountsCron, utc);
    }
}

/// <summary>Schedules of the maintenance crons (cron expressions, UTC). Bound from the <c>Maintenance</c> section.</summary>
public sealed class MaintenanceOptions
{
    public const string Section = "Maintenance";

    [Required]
    public string ReconcileFollowCountsCron { get; set; } = "*/15 * * * *";
}
