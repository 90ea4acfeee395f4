using System.Globalization;
using System.Text.RegularExpressions;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Feed.Users;

/// <summary>Accounts: sign-up, profiles with their counts, and who follows whom.</summary>
public static partial class UsersApi
{
    public const int MaxDisplayNameLength = 50;

    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/users").WithTags("Users");
        api.MapPost("/", CreateUser).AllowAnonymous().ProducesProblem(StatusCodes.Status409Conflict).WithSummary("Create a user");
        api.MapGet("/me", GetMe).RequireAuthorization().WithSummary("The caller's own profile");
        api.MapGet("/{id}", GetUser).RequireAuthorization().ProducesProblem(StatusCodes.Status404NotFound).WithSummary("A user's profile with follower counts");
        api.MapGet("/{id}/followers", GetFollowers).RequireAuthorization().ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Who follows a user, newest accounts first");
        api.MapGet("/{id}/following", GetFollowing).RequireAuthorization().ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Whom a user follows, newest accounts first");
        return app;
    }

    public static async Task<Results<Created<UserResponse>, ValidationProblem, ProblemHttpResult>> CreateUser(
        CreateUserRequest request, FeedDbContext db, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Handle is null || !HandlePattern().IsMatch(request.Handle))
        {
            errors["handle"] = ["handle must be 3 to 30 characters of letters, digits and underscores."];
        }
        var displayName = request.DisplayName?.Trim();
        if (string.IsNullOrEmpty(displayName))
        {
            displayName = request.Handle;
        }
        else if (new StringInfo(displayName).LengthInTextElements > MaxDisplayNameLength || displayName.Any(char.IsControl))
        {
            errors["displayName"] = [$"displayName must be at most {MaxDisplayNameLength} characters without control characters."];
        }
        var email = string.IsNullOrWhiteSpace(request.Email) ? null : request.Email.Trim();
        if (email is not null && !UserSettings.IsValidEmail(email))
        {
            errors["email"] = [UserSettingsApi.EmailError];
        }
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        var user = new User
        {
            Handle = request.Handle!,
            HandleNormalized = request.Handle!.ToLowerInvariant(),
            DisplayName = displayName!,
            Email = email,
        };
        db.Users.Add(user);
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            return Problems.Conflict($"The handle '{request.Handle}' is taken.");
        }
        return TypedResults.Created($"/v1/users/{user.Id}", UserResponse.From(user));
    }

    public static Task<Results<Ok<UserResponse>, ProblemHttpResult>> GetMe(HttpContext http, FeedDbContext db, CancellationToken ct) =>
        GetUser(http.User.UserId(), db, ct);

    public static async Task<Results<Ok<UserResponse>, ProblemHttpResult>> GetUser(long id, FeedDbContext db, CancellationToken ct)
    {
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.Id == id, ct);
        return user is null ? Problems.NotFound($"User {id} does not exist.") : TypedResults.Ok(UserResponse.From(user));
    }

    public static Task<Results<Ok<UserPage>, ValidationProblem, ProblemHttpResult>> GetFollowers(
        long id, int? limit, string? cursor, FeedDbContext db, CancellationToken ct) =>
        ListAsync(id, limit, cursor, db, followers: true, ct);

    public static Task<Results<Ok<UserPage>, ValidationProblem, ProblemHttpResult>> GetFollowing(
        long id, int? limit, string? cursor, FeedDbContext db, CancellationToken ct) =>
        ListAsync(id, limit, cursor, db, followers: false, ct);

    private static async Task<Results<Ok<UserPage>, ValidationProblem, ProblemHttpResult>> ListAsync(
        long id, int? limit, string? cursor, FeedDbContext db, bool followers, CancellationToken ct)
    {
        if (Paging.Validate(limit, cursor, "cursor", out var pageSize, out var after) is { } errors)
        {
            return Problems.Invalid(errors);
        }
        if (!await db.Users.AnyAsync(u => u.Id == id, ct))
        {
            return Problems.NotFound($"User {id} does not exist.");
        }
        var below = after ?? long.MaxValue;
        var edges = followers
            ? db.Follows.Where(f => f.FolloweeId == id && f.FollowerId < below).Select(f => f.FollowerId)
            : db.Follows.Where(f => f.FollowerId == id && f.FolloweeId < below).Select(f => f.FolloweeId);
        var ids = await edges.OrderByDescending(x => x).Take(pageSize + 1).ToListAsync(ct);
        var hasMore = ids.Count > pageSize;
        if (hasMore)
        {
            ids.RemoveAt(ids.Count - 1);
        }
        var users = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id))
            .OrderByDescending(u => u.Id)
            .Select(u => new UserSummary(u.Id.ToString(), u.Handle, u.DisplayName))
            .ToListAsync(ct);
        return TypedResults.Ok(new UserPage(users, hasMore ? ids[^1].ToString(CultureInfo.InvariantCulture) : null));
    }

    [GeneratedRegex("^[A-Za-z0-9_]{3,30}$")]
    private static partial Regex HandlePattern();
}

/// <param name="Handle">3–30 letters, digits and underscores; unique regardless of case.</param>
/// <param name="DisplayName">Up to 50 characters; defaults to the handle.</param>
/// <param name="Email">Optional; where digests go once enabled in the settings. Never shown to other users.</param>
public sealed record CreateUserRequest(string? Handle, string? DisplayName, string? Email = null);

public sealed record UserResponse(
    string Id, string Handle, string DisplayName, DateTimeOffset CreatedAt, int FollowerCount, int FollowingCount, bool IsCelebrity)
{
    public static UserResponse From(User u) => new(
        u.Id.ToString(CultureInfo.InvariantCulture), u.Handle, u.DisplayName, u.CreatedAt, u.FollowerCount, u.FollowingCount, u.IsCelebrity);
}

public sealed record UserSummary(string Id, string Handle, string DisplayName);

public sealed record UserPage(IReadOnlyList<UserSummary> Items, string? NextCursor);
