using System.Globalization;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Feed.Webhooks;

/// <summary>Partner accounts, managed by admins: create (the API key is shown once), list, rotate the key, disable.</summary>
public static class PartnersApi
{
    public const int MaxNameLength = 100;

    public static IEndpointRouteBuilder MapPartnersApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/admin/partners").WithTags("Admin: partners").RequireAuthorization(Policies.Admin)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        api.MapPost("/", CreatePartner).WithSummary("Create a partner; the response holds its API key, shown only this once");
        api.MapGet("/", ListPartners).WithSummary("Partners, newest first");
        api.MapGet("/{id}", GetPartner).ProducesProblem(StatusCodes.Status404NotFound).WithSummary("A partner");
        api.MapPost("/{id}/rotate-key", RotateKey).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Replace a partner's API key; the old key stops working at once");
        api.MapDelete("/{id}", DisablePartner).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Disable a partner: its key stops working and its endpoints receive nothing more");
        return app;
    }

    public static async Task<Results<Created<PartnerKeyResponse>, ValidationProblem>> CreatePartner(
        CreatePartnerRequest request, FeedDbContext db, CancellationToken ct)
    {
        var name = request.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || name.Any(char.IsControl))
        {
            return Problems.Invalid("name", $"name is required: 1 to {MaxNameLength} characters without control characters.");
        }
        var key = PartnerApiKeys.NewKey();
        var partner = new Partner { Name = name, ApiKeyHash = PartnerApiKeys.Hash(key), ApiKeyPrefix = PartnerApiKeys.DisplayPrefix(key) };
        db.Partners.Add(partner);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/admin/partners/{partner.Id}", PartnerKeyResponse.From(partner, key));
    }

    public static async Task<Results<Ok<PartnerPage>, ValidationProblem>> ListPartners(int? limit, string? before, FeedDbContext db, CancellationToken ct)
    {
        if (Paging.Validate(limit, before, "before", out var pageSize, out var cursor) is { } errors)
        {
            return Problems.Invalid(errors);
        }
        var below = cursor ?? long.MaxValue;
        var partners = await db.Partners.AsNoTracking().Where(p => p.Id < below).OrderByDescending(p => p.Id).Take(pageSize + 1).ToListAsync(ct);
        var items = partners.Take(pageSize).Select(PartnerResponse.From).ToList();
        return TypedResults.Ok(new PartnerPage(items, partners.Count > pageSize ? items[^1].Id : null));
    }

    public static async Task<Results<Ok<PartnerResponse>, ProblemHttpResult>> GetPartner(long id, FeedDbContext db, CancellationToken ct) =>
        await db.Partners.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, ct) is { } partner
            ? TypedResults.Ok(PartnerResponse.From(partner))
            : Problems.NotFound($"Partner {id} does not exist.");

    public static async Task<Results<Ok<PartnerKeyResponse>, ProblemHttpResult>> RotateKey(long id, FeedDbContext db, CancellationToken ct)
    {
        var partner = await db.Partners.FirstOrDefaultAsync(p => p.Id == id, ct);
        if (partner is null)
        {
            return Problems.NotFound($"Partner {id} does not exist.");
        }
        if (partner.DisabledAt is not null)
        {
            return Problems.Conflict($"Partner {id} is disabled.");
        }
        var key = PartnerApiKeys.NewKey();
        partner.ApiKeyHash = PartnerApiKeys.Hash(key);
        partner.ApiKeyPrefix = PartnerApiKeys.DisplayPrefix(key);
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(PartnerKeyResponse.From(partner, key));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DisablePartner(long id, FeedDbContext db, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var disabled = await db.Partners.Where(p => p.Id == id)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.DisabledAt, p => p.DisabledAt ?? DateTimeOffset.UtcNow), ct);
        if (disabled == 0)
        {
            return Problems.NotFound($"Partner {id} does not exist.");
        }
        // Each endpoint row is locked before its deliveries, the order every endpoint change uses.
        var endpoints = await db.WebhookSubscriptions.FromSql($"SELECT * FROM webhook_subscriptions WHERE partner_id = {id} ORDER BY id FOR UPDATE")
            .AsNoTracking().ToListAsync(ct);
        foreach (var endpoint in endpoints.Select(e => e.Id))
        {
            await WebhookEndpoints.DisableAsync(
                (NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)tx.GetDbTransaction(), endpoint, WebhookEndpoints.PartnerDisabled, ct);
        }
        await tx.CommitAsync(ct);
        return TypedResults.NoContent();
    }
}

public sealed record CreatePartnerRequest(string? Name);

public sealed record PartnerResponse(string Id, string Name, string ApiKeyPrefix, DateTimeOffset CreatedAt, DateTimeOffset? DisabledAt)
{
    public static PartnerResponse From(Partner p) => new(p.Id.ToString(CultureInfo.InvariantCulture), p.Name, p.ApiKeyPrefix, p.CreatedAt, p.DisabledAt);
}

/// <summary>A partner with its API key: returned only when the key is made. Store the key now; it cannot be shown again.</summary>
public sealed record PartnerKeyResponse(string Id, string Name, string ApiKey, string ApiKeyPrefix, DateTimeOffset CreatedAt)
{
    public static PartnerKeyResponse From(Partner p, string key) => new(p.Id.ToString(CultureInfo.InvariantCulture), p.Name, key, p.ApiKeyPrefix, p.CreatedAt);
}

public sealed record PartnerPage(IReadOnlyList<PartnerResponse> Items, string? NextCursor);
