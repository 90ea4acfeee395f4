using System.Globalization;
using Feed.Infrastructure.Http;
using Feed.Posts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Feed.Feeds;

/// <summary>The home feed.</summary>
public static class FeedsApi
{
    public static IEndpointRouteBuilder MapFeedsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/feed").WithTags("Feed").RequireAuthorization();
        api.MapGet("/", GetFeed)
            .WithSummary("The caller's home feed, newest first: followed accounts' posts and the caller's own");
        return app;
    }

    public static async Task<Results<Ok<PostPage>, ValidationProblem, ProblemHttpResult>> GetFeed(
        int? limit, string? before, HttpContext http, HomeFeedReader reader, CancellationToken ct)
    {
        if (Paging.Validate(limit, before, "before", out var pageSize, out var cursor) is { } errors)
        {
            return Problems.Invalid(errors);
        }
        var userId = http.User.UserId();
        var page = await reader.ReadAsync(userId, pageSize, cursor, ct);
        if (page is null)
        {
            return Problems.NotFound($"User {userId} does not exist.");
        }
        var items = page.Items.Select(p => new PostResponse(
            p.Id.ToString(CultureInfo.InvariantCulture), p.AuthorId.ToString(CultureInfo.InvariantCulture), p.Body, p.CreatedAt)).ToList();
        return TypedResults.Ok(new PostPage(items, page.NextCursor?.ToString(CultureInfo.InvariantCulture)));
    }
}
