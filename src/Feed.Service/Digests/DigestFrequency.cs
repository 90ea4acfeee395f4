namespace Feed.Digests;

/// <summary>How often an opted-in user receives a digest. Stored as a small integer; spelled in lower case in the API.</summary>
public enum DigestFrequency : short
{
    /// <summary>Every day at the delivery time, local to the user.</summary>
    Daily = 1,

    /// <summary>Once a week, on the configured weekday (<c>Digests:WeeklyDay</c>), at the delivery time local to the user.</summary>
    Weekly = 2,
}

/// <summary>The API spelling of <see cref="DigestFrequency"/>.</summary>
public static class DigestFrequencies
{
    public const string Daily = "daily";
    public const string Weekly = "weekly";

    public static string ToApi(this DigestFrequency frequency) => frequency == DigestFrequency.Weekly ? Weekly : Daily;

    /// <summary>Parses <c>daily</c> or <c>weekly</c>, ignoring case.</summary>
    public static bool TryParse(string value, out DigestFrequency frequency)
    {
        frequency = value.Trim().ToLowerInvariant() switch
        {
            Daily => DigestFrequency.Daily,
            Weekly => DigestFrequency.Weekly,
            _ => 0,
        };
        return frequency != 0;
    }
}
