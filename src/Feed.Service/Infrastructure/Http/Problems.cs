using System.Security.Claims;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feed.Infrastructure.Http;

/// <summary>Problem+json results used across features, so every error reads the same.</summary>
internal static class Problems
{
    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status403Forbidden, title: "Forbidden");

    public static ProblemHttpResult Conflict(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict");

    public static ProblemHttpResult Unprocessable(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status422UnprocessableEntity, title: "Unprocessable request");

    public static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] });

    public static ValidationProblem Invalid(Dictionary<string, string[]> errors) => TypedResults.ValidationProblem(errors);
}

/// <summary>The authenticated caller.</summary>
internal static class CurrentUser
{
    /// <summary>The caller's user id, from the token's <c>sub</c> claim (validated by the bearer handler).</summary>
    public static long UserId(this ClaimsPrincipal principal) =>
        long.Parse(principal.FindFirstValue("sub") ?? throw new InvalidOperationException("No sub claim on an authenticated request."),
            System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>Shared parsing of <c>limit</c> and cursor query parameters.</summary>
internal static class Paging
{
    public const int DefaultLimit = 20;
    public const int MaxLimit = 100;

    /// <summary>Validates paging input; returns the errors, or null when it is valid.</summary>
    public static Dictionary<string, string[]>? Validate(int? limit, string? cursor, string cursorName, out int pageSize, out long? cursorId)
    {
        pageSize = limit ?? DefaultLimit;
        cursorId = null;
        var errors = new Dictionary<string, string[]>();
        if (pageSize is < 1 or > MaxLimit)
        {
            errors["limit"] = [$"limit must be between 1 and {MaxLimit}."];
        }
        if (cursor is not null)
        {
            if (long.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && id > 0)
            {
                cursorId = id;
            }
            else
            {
                errors[cursorName] = [$"{cursorName} must be a cursor returned by a previous page (a positive decimal id)."];
            }
        }
        return errors.Count == 0 ? null : errors;
    }
}
