using System.Text.Json.Serialization;
using Feed.Infrastructure.Auth;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Feed.Auth;

/// <summary>Token endpoints. Only development tokens for now: production deployments bring their own identity provider.</summary>
public static class AuthApi
{
    public static IEndpointRouteBuilder MapAuthApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/auth").WithTags("Auth");
        api.MapPost("/dev-token", CreateDevToken)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .AllowAnonymous()
            .WithSummary("Mint a token for a user (only when Auth:EnableDevTokens is true)");
        return app;
    }

    public static async Task<Results<Ok<TokenResponse>, ValidationProblem, ProblemHttpResult>> CreateDevToken(
        DevTokenRequest request, FeedDbContext db, TokenIssuer issuer, IOptions<AuthOptions> options, CancellationToken ct)
    {
        if (!options.Value.EnableDevTokens)
        {
            return Problems.NotFound("Development tokens are disabled on this server.");
        }
        if (request.UserId is not > 0)
        {
            return Problems.Invalid("userId", "userId is required and must be a positive id.");
        }
        var roles = request.Roles ?? [];
        if (roles.Except(Roles.All).FirstOrDefault() is { } unknown)
        {
            return Problems.Invalid("roles", $"Unknown role '{unknown}'; roles are: {string.Join(", ", Roles.All)}.");
        }
        var userId = request.UserId.Value;
        if (!await db.Users.AnyAsync(u => u.Id == userId, ct))
        {
            return Problems.NotFound($"User {userId} does not exist.");
        }
        return TypedResults.Ok(new TokenResponse(issuer.Issue(userId, options.Value.DevTokenLifetime, roles.Distinct())));
    }
}

/// <param name="UserId">The user the token acts as.</param>
/// <param name="Roles">Optional operator roles: <c>admin</c> (dashboard and admin API) or <c>viewer</c> (read-only dashboard).</param>
public sealed record DevTokenRequest(
    [property: JsonNumberHandling(JsonNumberHandling.AllowReadingFromString)] long? UserId,
    string[]? Roles = null);

public sealed record TokenResponse(string Token);
