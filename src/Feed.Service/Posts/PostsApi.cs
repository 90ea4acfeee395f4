using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Feed.Infrastructure.Protection;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Feed.Posts;

/// <summary>Writing, reading and deleting posts.</summary>
public static class PostsApi
{
    public const int MaxBodyLength = 500;
    public const int MaxIdempotencyKeyLength = 255;
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    public static IEndpointRouteBuilder MapPostsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/posts").WithTags("Posts").RequireAuthorization();
        api.MapPost("/", CreatePost).WithWriteRateLimit()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Publish a post; fan-out to followers happens in the background");
        api.MapGet("/{id}", GetPost).ProducesProblem(StatusCodes.Status404NotFound).WithSummary("A post");
        api.MapDelete("/{id}", DeletePost).WithWriteRateLimit()
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Delete one of your posts");
        app.MapGet("/v1/users/{id}/posts", GetUserPosts).WithTags("Posts").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("A user's posts, newest first");
        return app;
    }

    public static async Task<Results<Created<PostResponse>, ValidationProblem, ProblemHttpResult>> CreatePost(
        CreatePostRequest request,
        [FromHeader(Name = IdempotencyKeyHeader)] string? idempotencyKey,
        HttpContext http,
        CreatePostService posts,
        FanOutBacklog backlog,
        IOptions<ProtectionOptions> protection,
        CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Body))
        {
            errors["body"] = ["body is required and must not be blank."];
        }
        else if (new StringInfo(request.Body).LengthInTextElements > MaxBodyLength)
        {
            errors["body"] = [$"body must be at most {MaxBodyLength} characters."];
        }
        else if (request.Body.Contains('\0'))
        {
            // Postgres text cannot hold U+0000; refused here rather than failing the insert.
            errors["body"] = ["body must not contain NUL (U+0000) characters."];
        }
        if (idempotencyKey is not null &&
            (idempotencyKey.Length is 0 or > MaxIdempotencyKeyLength || idempotencyKey.Any(c => c is < '!' or > '~')))
        {
            errors[IdempotencyKeyHeader] = [$"{IdempotencyKeyHeader} must be 1 to {MaxIdempotencyKeyLength} visible ASCII characters."];
        }
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }

        if (backlog.IsOverloaded)
        {
            // Reads keep working; writes wait until the workers have caught up.
            http.Response.Headers.RetryAfter = ((int)protection.Value.OverloadRetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            return TypedResults.Problem(
                "The service is catching up on fan-out work and is not accepting posts right now. Retry after the Retry-After delay.",
                statusCode: StatusCodes.Status503ServiceUnavailable, title: "Service overloaded");
        }

        var hash = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(request.Body!)));
        var result = await posts.CreateAsync(http.User.UserId(), request.Body!, idempotencyKey, hash, ct);
        if (result.KeyReusedWithOtherBody)
        {
            return Problems.Unprocessable($"This {IdempotencyKeyHeader} was already used with a different request body.");
        }
        if (result.Replayed)
        {
            http.Response.Headers["Idempotent-Replayed"] = "true";
        }
        return TypedResults.Created($"/v1/posts/{result.Post.Id}", PostResponse.From(result.Post));
    }

    public static async Task<Results<Ok<PostResponse>, ProblemHttpResult>> GetPost(long id, FeedDbContext db, CancellationToken ct)
    {
        var post = await db.Posts.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id && p.DeletedAt == null, ct);
        return post is null ? Problems.NotFound($"Post {id} does not exist.") : TypedResults.Ok(PostResponse.From(post));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeletePost(
        long id, HttpContext http, DeletePostService posts, CancellationToken ct) =>
        await posts.DeleteAsync(http.User.UserId(), id, ct) switch
        {
            DeletePostOutcome.NotFound => Problems.NotFound($"Post {id} does not exist."),
            DeletePostOutcome.NotAuthor => Problems.Forbidden("Only the author can delete a post."),
            _ => TypedResults.NoContent(),
        };

    public static async Task<Results<Ok<PostPage>, ValidationProblem, ProblemHttpResult>> GetUserPosts(
        long id, int? limit, string? before, FeedDbContext db, CancellationToken ct)
    {
        if (Paging.Validate(limit, before, "before", out var pageSize, out var cursor) is { } errors)
        {
            return Problems.Invalid(errors);
        }
        if (!await db.Users.AnyAsync(u => u.Id == id, ct))
        {
            return Problems.NotFound($"User {id} does not exist.");
        }
        var below = cursor ?? long.MaxValue;
        var posts = await db.Posts.AsNoTracking()
            .Where(p => p.AuthorId == id && p.DeletedAt == null && p.Id < below)
            .OrderByDescending(p => p.Id)
            .Take(pageSize + 1)
            .ToListAsync(ct);
        var hasMore = posts.Count > pageSize;
        var items = posts.Take(pageSize).Select(PostResponse.From).ToList();
        return TypedResults.Ok(new PostPage(items, hasMore ? items[^1].Id : null));
    }
}

public sealed record CreatePostRequest(string? Body);

/// <summary>A post as clients see it. Ids are strings: 64-bit integers do not survive JavaScript numbers.</summary>
public sealed record PostResponse(string Id, string AuthorId, string Body, DateTimeOffset CreatedAt)
{
    public static PostResponse From(Post p) => new(
        p.Id.ToString(CultureInfo.InvariantCulture), p.AuthorId.ToString(CultureInfo.InvariantCulture), p.Body, p.CreatedAt);
}

/// <summary>A page of posts, newest first; pass <paramref name="NextCursor"/> as <c>before</c> for the next page.</summary>
public sealed record PostPage(IReadOnlyList<PostResponse> Items, string? NextCursor);
