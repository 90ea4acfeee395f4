using System.Buffers.Text;
using System.Reflection;
using Feed.Infrastructure.Http;
using Feed.Posts;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

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

    public static async Task<Results<FeedPageResult, ValidationProblem, ProblemHttpResult>> GetFeed(
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
        return new FeedPageResult(page);
    }
}

/// <summary>
/// A feed page as a 200 <see cref="PostPage"/>, written from the posts' cached JSON: the same bytes
/// the serializer would write for the page (pinned by FeedReadTests), without parsing or serializing any post.
/// </summary>
public sealed class FeedPageResult(FeedPage page) : IResult, IStatusCodeHttpResult, IEndpointMetadataProvider
{
    private static readonly byte[] Start = """{"items":["""u8.ToArray();
    private static readonly byte[] NoCursor = ""","nextCursor":null}"""u8.ToArray();
    private static readonly byte[] CursorStart = ",\"nextCursor\":\""u8.ToArray();

    public FeedPage Page { get; } = page;

    public int? StatusCode => StatusCodes.Status200OK;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        var length = Start.Length + 1 + NoCursor.Length + CursorStart.Length + 22;
        foreach (var post in Page.Items)
        {
            length += post.Json.Length + 1;
        }
        var writer = httpContext.Response.BodyWriter;
        var span = writer.GetSpan(length);
        var at = Append(span, 0, Start);
        for (var i = 0; i < Page.Items.Count; i++)
        {
            if (i > 0)
            {
                span[at++] = (byte)',';
            }
            at = Append(span, at, Page.Items[i].Json);
        }
        span[at++] = (byte)']';
        if (Page.NextCursor is { } cursor)
        {
            at = Append(span, at, CursorStart);
            Utf8Formatter.TryFormat(cursor, span[at..], out var written);
            at += written;
            span[at++] = (byte)'"';
            span[at++] = (byte)'}';
        }
        else
        {
            at = Append(span, at, NoCursor);
        }
        httpContext.Response.StatusCode = StatusCodes.Status200OK;
        httpContext.Response.ContentType = "application/json; charset=utf-8";
        httpContext.Response.ContentLength = at;
        writer.Advance(at);
        return writer.FlushAsync(httpContext.RequestAborted).AsTask();
    }

    private static int Append(Span<byte> span, int at, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(span[at..]);
        return at + bytes.Length;
    }

    /// <summary>Documents the response as the <see cref="PostPage"/> it is.</summary>
    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(PostPage), ["application/json"]));
}
