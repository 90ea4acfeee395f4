using Feed.Digests;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Feed.Users;

/// <summary>
/// The caller's private settings: email address, time zone and digest subscription. A partial
/// update validates every field first and writes all of them or none.
/// </summary>
public static class UserSettingsApi
{
    internal const string EmailError = "email must be a plain address such as name@example.com (at most 254 characters).";

    public static IEndpointRouteBuilder MapUserSettingsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/users/me/settings").WithTags("Users").RequireAuthorization();
        api.MapGet("/", GetSettings).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("The caller's email, time zone and digest subscription");
        api.MapPatch("/", UpdateSettings).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Change some of the caller's settings; fields left out stay as they are");
        return app;
    }

    public static async Task<Results<Ok<UserSettingsResponse>, ProblemHttpResult>> GetSettings(
        HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        var userId = http.User.UserId();
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == userId, ct);
        return user is null ? Problems.NotFound($"User {userId} does not exist.") : TypedResults.Ok(UserSettingsResponse.From(user));
    }

    public static async Task<Results<Ok<UserSettingsResponse>, ValidationProblem, ProblemHttpResult>> UpdateSettings(
        UpdateSettingsRequest request, HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        string? email = null;
        var clearEmail = false;
        if (request.Email is not null)
        {
            email = request.Email.Trim();
            if (email.Length == 0)
            {
                clearEmail = true;
            }
            else if (!UserSettings.IsValidEmail(email))
            {
                errors["email"] = [EmailError];
            }
        }
        TimeZoneInfo? zone = null;
        if (request.TimeZone is not null && !UserSettings.TryResolveTimeZone(request.TimeZone, out zone))
        {
            errors["timeZone"] = ["timeZone must be an IANA time zone name such as Europe/Berlin, America/New_York or UTC."];
        }
        DigestFrequency? frequency = null;
        if (request.DigestFrequency is not null)
        {
            if (DigestFrequencies.TryParse(request.DigestFrequency, out var parsed))
            {
                frequency = parsed;
            }
            else
            {
                errors["digestFrequency"] = [$"digestFrequency must be '{DigestFrequencies.Daily}' or '{DigestFrequencies.Weekly}'."];
            }
        }
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var userId = http.User.UserId();
        var user = await db.Users.FirstOrDefaultAsync(u => u.Id == userId, ct);
        if (user is null)
        {
            return Problems.NotFound($"User {userId} does not exist.");
        }
        var newEmail = clearEmail ? null : email ?? user.Email;
        var newEnabled = request.DigestEnabled ?? user.DigestEnabled;
        if (newEnabled && newEmail is null)
        {
            return Problems.Invalid("digestEnabled", "Digests need an email address: set email (in this request or before) to enable them.");
        }

        user.Email = newEmail;
        user.DigestEnabled = newEnabled;
        user.TimeZone = zone?.Id ?? user.TimeZone;
        user.DigestFrequency = frequency ?? user.DigestFrequency;
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(UserSettingsResponse.From(user));
    }
}

/// <summary>A partial update: a field that is absent or null is left unchanged.</summary>
/// <param name="Email">A plain address; an empty string removes it (only while digests are off).</param>
/// <param name="TimeZone">An IANA time zone name, such as <c>Europe/Berlin</c>; digests arrive at the delivery time on this clock.</param>
/// <param name="DigestEnabled">Opt in to (true) or out of (false) digest emails; opting in needs an email address.</param>
/// <param name="DigestFrequency"><c>daily</c> or <c>weekly</c>.</param>
public sealed record UpdateSettingsRequest(string? Email, string? TimeZone, bool? DigestEnabled, string? DigestFrequency);

/// <summary>The caller's private settings.</summary>
public sealed record UserSettingsResponse(string? Email, string TimeZone, bool DigestEnabled, string DigestFrequency)
{
    public static UserSettingsResponse From(User u) => new(u.Email, u.TimeZone, u.DigestEnabled, u.DigestFrequency.ToApi());
}
