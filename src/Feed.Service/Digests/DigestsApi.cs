using System.Globalization;
using System.Net;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Feed.Digests;

/// <summary>
/// The unsubscribe link of digest emails. Anonymous: the signed token is the credential. POST is
/// the RFC 8058 one-click (mail clients send <c>List-Unsubscribe=One-Click</c>; the body is not
/// needed); GET only shows a confirmation page with a button that POSTs, because link scanners and
/// mail previews follow GET links by themselves.
/// </summary>
public static class DigestsApi
{
    public static IEndpointRouteBuilder MapDigestsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/digests").WithTags("Digests").AllowAnonymous();
        api.MapGet("/unsubscribe", ConfirmUnsubscribe)
            .Produces(StatusCodes.Status200OK, contentType: "text/html")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Confirmation page for the unsubscribe link of a digest email (changes nothing)");
        api.MapPost("/unsubscribe", Unsubscribe)
            .Produces(StatusCodes.Status200OK, contentType: "text/html")
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("One-click unsubscribe from digest emails (RFC 8058); idempotent");
        return app;
    }

    public static async Task<Results<ContentHttpResult, ValidationProblem, ProblemHttpResult>> ConfirmUnsubscribe(
        string? token, UnsubscribeTokens tokens, FeedDbContext db, CancellationToken ct)
    {
        switch (tokens.Verify(token, out var userId))
        {
            case UnsubscribeTokenCheck.Malformed:
                return MalformedToken();
            case UnsubscribeTokenCheck.Forged:
                return ForgedToken();
        }
        if (!await db.Users.AnyAsync(u => u.Id == userId, ct))
        {
            return Problems.NotFound("This account no longer exists.");
        }
        var action = WebUtility.HtmlEncode($"/v1/digests/unsubscribe?token={Uri.EscapeDataString(token!)}");
        return TypedResults.Content(Page(
            "Unsubscribe from Feed digests?",
            "You will no longer get digest emails. You can turn them on again in your settings at any time.",
            $"<form method=\"post\" action=\"{action}\"><button type=\"submit\">Unsubscribe</button></form>"),
            "text/html; charset=utf-8");
    }

    public static async Task<Results<Ok<UnsubscribeResponse>, ContentHttpResult, ValidationProblem, ProblemHttpResult>> Unsubscribe(
        string? token, HttpContext http, UnsubscribeTokens tokens, FeedDbContext db, CancellationToken ct)
    {
        switch (tokens.Verify(token, out var userId))
        {
            case UnsubscribeTokenCheck.Malformed:
                return MalformedToken();
            case UnsubscribeTokenCheck.Forged:
                return ForgedToken();
        }
        var updated = await db.Users.Where(u => u.Id == userId)
            .ExecuteUpdateAsync(set => set.SetProperty(u => u.DigestEnabled, false), ct);
        if (updated == 0)
        {
            return Problems.NotFound("This account no longer exists.");
        }
        var wantsPage = http.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.OrdinalIgnoreCase);
        return wantsPage
            ? TypedResults.Content(Page("You are unsubscribed", "You will no longer get Feed digest emails.", ""), "text/html; charset=utf-8")
            : TypedResults.Ok(new UnsubscribeResponse(userId.ToString(CultureInfo.InvariantCulture), DigestEnabled: false));
    }

    private static ValidationProblem MalformedToken() =>
        Problems.Invalid("token", "token must be the unsubscribe token from a digest email's link.");

    private static ProblemHttpResult ForgedToken() =>
        Problems.Forbidden("The unsubscribe link is not valid: its signature does not match.");

    private static string Page(string title, string text, string form) =>
        $"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{WebUtility.HtmlEncode(title)}</title></head>
        <body style="font-family:system-ui,sans-serif;max-width:480px;margin:48px auto;padding:0 16px">
        <h1 style="font-size:22px">{WebUtility.HtmlEncode(title)}</h1><p>{WebUtility.HtmlEncode(text)}</p>{form}
        </body></html>
        """;
}

/// <param name="UserId">The account whose digests are now off.</param>
/// <param name="DigestEnabled">Always false.</param>
public sealed record UnsubscribeResponse(string UserId, bool DigestEnabled);
