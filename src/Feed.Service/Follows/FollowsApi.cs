using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Protection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Feed.Follows;

/// <summary>The caller's follows. Both verbs are idempotent: following twice or unfollowing a stranger is a 204.</summary>
public static class FollowsApi
{
    public static IEndpointRouteBuilder MapFollowsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/users/me/following").WithTags("Follows").RequireAuthorization();
        api.MapPut("/{id}", Follow).WithWriteRateLimit().ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Follow a user");
        api.MapDelete("/{id}", Unfollow).WithWriteRateLimit().ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Unfollow a user");
        return app;
    }

    public static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> Follow(
        long id, HttpContext http, FeedDbContext db, FollowService follows, CancellationToken ct)
    {
        var me = http.User.UserId();
        if (id == me)
        {
            return Problems.Invalid("id", "You cannot follow yourself.");
        }
        if (!await db.Users.AnyAsync(u => u.Id == id, ct))
        {
            return Problems.NotFound($"User {id} does not exist.");
        }
        await follows.FollowAsync(me, id, ct);
        return TypedResults.NoContent();
    }

    public static async Task<Results<NoContent, ValidationProblem, ProblemHttpResult>> Unfollow(
        long id, HttpContext http, FeedDbContext db, FollowService follows, CancellationToken ct)
    {
        var me = http.User.UserId();
        if (id == me)
        {
            return Problems.Invalid("id", "You cannot unfollow yourself.");
        }
        if (!await db.Users.AnyAsync(u => u.Id == id, ct))
        {
            return Problems.NotFound($"User {id} does not exist.");
        }
        await follows.UnfollowAsync(me, id, ct);
        return TypedResults.NoContent();
    }
}
