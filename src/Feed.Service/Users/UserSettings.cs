using System.Net.Mail;
using System.Text.RegularExpressions;

namespace Feed.Users;

/// <summary>
/// Validation of the settings a user controls: email address and time zone. Shared by sign-up and
/// <c>PATCH /v1/users/me/settings</c>, so both accept exactly the same values.
/// </summary>
internal static partial class UserSettings
{
    /// <summary>RFC 5321's limit on a forward path.</summary>
    public const int MaxEmailLength = 254;

    public const int MaxTimeZoneLength = 64;

    /// <summary>Zone ids the host's tz database has but that are not places: refused.</summary>
    private static readonly string[] NotPlaces = ["localtime", "posixrules", "Factory"];

    private static readonly string[] NotPlacePrefixes = ["posix/", "right/", "SystemV/"];

    /// <summary>
    /// A plain address (<c>local@domain.tld</c>): no display name, no angle brackets, no
    /// whitespace, a dotted domain. The address is what digests are sent to, so it must also be
    /// what MailKit would parse back.
    /// </summary>
    public static bool IsValidEmail(string email)
    {
        if (email.Length > MaxEmailLength || email.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            return false;
        }
        var at = email.LastIndexOf('@');
        if (at is < 1 or > 64 || email.IndexOf('@') != at)
        {
            return false;
        }
        var domain = email[(at + 1)..];
        if (!domain.Contains('.') || domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains(".."))
        {
            return false;
        }
        return MailAddress.TryCreate(email, out var parsed) && parsed.Address == email && parsed.DisplayName.Length == 0 &&
               MimeKit.MailboxAddress.TryParse(email, out var mailbox) && mailbox.Address == email;
    }

    /// <summary>
    /// Accepts an IANA time zone id known to the host's tz database (as used by
    /// <see cref="TimeZoneInfo.FindSystemTimeZoneById"/>), case as in the database.
    /// </summary>
    public static bool TryResolveTimeZone(string id, out TimeZoneInfo zone)
    {
        zone = TimeZoneInfo.Utc;
        if (id.Length is 0 or > MaxTimeZoneLength || !ZoneIdPattern().IsMatch(id) ||
            NotPlaces.Contains(id, StringComparer.OrdinalIgnoreCase) ||
            NotPlacePrefixes.Any(p => id.StartsWith(p, StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(id, out var found) || found.Id != id)
        {
            return false;
        }
        zone = found;
        return true;
    }

    // Area/Location[/Sub] or a single word (UTC, Japan); letters, digits, '_', '+', '-' only.
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")]
    private static partial Regex ZoneIdPattern();
}
