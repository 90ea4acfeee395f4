using Cronos;

namespace Feed.Infrastructure.Hangfire;

/// <summary>Start-up validation of the cron expressions that schedule recurring jobs.</summary>
internal static class CronSchedules
{
    /// <summary>
    /// Null when <paramref name="cron"/> is a cron expression Hangfire accepts (five fields, or six
    /// with seconds); otherwise a message naming the setting, so a typo stops the process at start-up
    /// instead of silently never running the job.
    /// </summary>
    public static string? Error(string setting, string? cron)
    {
        if (string.IsNullOrWhiteSpace(cron))
        {
            return $"{setting} must be a cron expression.";
        }
        var fields = cron.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
        try
        {
            CronExpression.Parse(cron, fields == 6 ? CronFormat.IncludeSeconds : CronFormat.Standard);
            return null;
        }
        catch (CronFormatException ex)
        {
            return $"{setting} is not a valid cron expression ('{cron}'): {ex.Message}";
        }
    }
}
