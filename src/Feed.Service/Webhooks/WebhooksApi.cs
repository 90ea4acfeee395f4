using System.Globalization;
using Feed.Infrastructure.Http;
using Feed.Infrastructure.Postgres;
using Feed.Outbox;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Webhooks;

/// <summary>
/// The partner API (authenticated by <c>X-Api-Key</c>): subscriptions, secret rotation, test events,
/// the delivery log and replays. A partner sees only its own subscriptions; another partner's are
/// answered 404, exactly like ones that do not exist.
/// </summary>
public static class WebhooksApi
{
    public const int MaxDescriptionLength = 500;
    public const int MaxEventTypes = 20;

    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/v1/webhooks").WithTags("Webhooks").RequireAuthorization(Policies.Partner);
        api.MapGet("/event-types", ListEventTypes).WithSummary("Event types an endpoint can subscribe to");
        api.MapPost("/subscriptions", CreateSubscription).ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .WithSummary("Subscribe an endpoint; the response holds its signing secret, shown only this once");
        api.MapGet("/subscriptions", ListSubscriptions).WithSummary("Your subscriptions, newest first");
        api.MapGet("/subscriptions/{id}", GetSubscription).ProducesProblem(StatusCodes.Status404NotFound).WithSummary("A subscription and its endpoint's health");
        api.MapPatch("/subscriptions/{id}", UpdateSubscription).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Change the URL, event types or description; enable a disabled endpoint again (or disable it)");
        api.MapDelete("/subscriptions/{id}", DeleteSubscription).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Delete a subscription with its delivery log");
        api.MapPost("/subscriptions/{id}/rotate-secret", RotateSecret).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Issue a new signing secret; the old one keeps signing alongside it during the overlap");
        api.MapPost("/subscriptions/{id}/test", SendTest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Send a webhook.test event to the endpoint");
        api.MapGet("/subscriptions/{id}/deliveries", ListDeliveries).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Deliveries to the endpoint, newest first, optionally by status");
        api.MapPost("/subscriptions/{id}/replay", ReplaySince).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Replay every failed (dead-lettered or retrying) delivery created since a time");
        api.MapGet("/deliveries/{id}", GetDelivery).ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("A delivery with its event and every attempt");
        api.MapPost("/deliveries/{id}/replay", ReplayDelivery).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Deliver one event again, starting a new round of the retry schedule");
        return app;
    }

    public static Ok<EventTypesResponse> ListEventTypes() => TypedResults.Ok(new EventTypesResponse(WebhookEventTypes.Subscribable));

    public static async Task<Results<Created<SubscriptionCreatedResponse>, ValidationProblem, ProblemHttpResult>> CreateSubscription(
        SubscriptionRequest request, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (await services.Guard.CheckAsync(request.Url, ct) is { } urlError)
        {
            errors["url"] = [urlError];
        }
        ValidateEventTypes(request.EventTypes, required: true, errors);
        ValidateDescription(request.Description, errors);
        if (request.Enabled is not null)
        {
            errors["enabled"] = ["enabled can only be changed on an existing subscription."];
        }
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }
        var partnerId = http.User.PartnerId();
        var limit = services.Options.Value.MaxSubscriptionsPerPartner;
        if (await services.Db.WebhookSubscriptions.CountAsync(s => s.PartnerId == partnerId, ct) >= limit)
        {
            return Problems.Unprocessable($"A partner may have at most {limit} subscriptions; delete one first.");
        }
        var secret = WebhookSecrets.NewSecret();
        var subscription = new WebhookSubscription
        {
            PartnerId = partnerId,
            Url = request.Url!,
            EventTypes = [.. request.EventTypes!.Distinct()],
            Description = NullIfBlank(request.Description),
            Secret = services.Secrets.Encrypt(secret),
        };
        services.Db.WebhookSubscriptions.Add(subscription);
        await services.Db.SaveChangesAsync(ct);
        return TypedResults.Created($"/v1/webhooks/subscriptions/{subscription.Id}",
            new SubscriptionCreatedResponse(SubscriptionResponse.From(subscription), secret));
    }

    public static async Task<Results<Ok<SubscriptionPage>, ValidationProblem>> ListSubscriptions(
        int? limit, string? before, HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        if (Paging.Validate(limit, before, "before", out var pageSize, out var cursor) is { } errors)
        {
            return Problems.Invalid(errors);
        }
        var partnerId = http.User.PartnerId();
        var below = cursor ?? long.MaxValue;
        var rows = await db.WebhookSubscriptions.AsNoTracking()
            .Where(s => s.PartnerId == partnerId && s.Id < below).OrderByDescending(s => s.Id).Take(pageSize + 1).ToListAsync(ct);
        var items = rows.Take(pageSize).Select(SubscriptionResponse.From).ToList();
        return TypedResults.Ok(new SubscriptionPage(items, rows.Count > pageSize ? items[^1].Id : null));
    }

    public static async Task<Results<Ok<SubscriptionResponse>, ProblemHttpResult>> GetSubscription(
        long id, HttpContext http, FeedDbContext db, CancellationToken ct) =>
        await FindAsync(db, http, id, ct) is { } subscription
            ? TypedResults.Ok(SubscriptionResponse.From(subscription))
            : NotFound(id);

    public static async Task<Results<Ok<SubscriptionResponse>, ValidationProblem, ProblemHttpResult>> UpdateSubscription(
        long id, SubscriptionRequest request, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request.Url is not null && await services.Guard.CheckAsync(request.Url, ct) is { } urlError)
        {
            errors["url"] = [urlError];
        }
        ValidateEventTypes(request.EventTypes, required: false, errors);
        ValidateDescription(request.Description, errors);
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }
        var db = services.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var subscription = await LockAsync(db, http, id, ct);
        if (subscription is null)
        {
            return NotFound(id);
        }
        if (request.Enabled is { } enabled && enabled != subscription.Enabled)
        {
            if (enabled)
            {
                await WebhookEndpoints.EnableAsync(Connection(db), Transaction(tx), id, ct);
            }
            else
            {
                await WebhookEndpoints.DisableAsync(Connection(db), Transaction(tx), id, WebhookEndpoints.ByPartner, ct);
            }
        }
        var url = request.Url ?? subscription.Url;
        var eventTypes = request.EventTypes?.Distinct().ToArray() ?? subscription.EventTypes;
        var description = request.Description is null ? subscription.Description : NullIfBlank(request.Description);
        await db.WebhookSubscriptions.Where(s => s.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(x => x.Url, url)
            .SetProperty(x => x.EventTypes, eventTypes)
            .SetProperty(x => x.Description, description)
            .SetProperty(x => x.UpdatedAt, DateTimeOffset.UtcNow), ct);
        await tx.CommitAsync(ct);
        return TypedResults.Ok(SubscriptionResponse.From((await FindAsync(db, http, id, ct))!));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteSubscription(long id, HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        var partnerId = http.User.PartnerId();
        var deleted = await db.WebhookSubscriptions.Where(s => s.Id == id && s.PartnerId == partnerId).ExecuteDeleteAsync(ct);
        return deleted == 0 ? NotFound(id) : TypedResults.NoContent();
    }

    public static async Task<Results<Ok<SecretResponse>, ProblemHttpResult>> RotateSecret(
        long id, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        var db = services.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await LockAsync(db, http, id, ct) is not { } subscription)
        {
            return NotFound(id);
        }
        var secret = WebhookSecrets.NewSecret();
        var expires = DateTimeOffset.UtcNow + services.Options.Value.SecretRotationOverlap;
        var sealedSecret = services.Secrets.Encrypt(secret);
        await db.WebhookSubscriptions.Where(s => s.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(x => x.PreviousSecret, subscription.Secret)
            .SetProperty(x => x.PreviousSecretExpiresAt, expires)
            .SetProperty(x => x.Secret, sealedSecret)
            .SetProperty(x => x.UpdatedAt, DateTimeOffset.UtcNow), ct);
        await tx.CommitAsync(ct);
        return TypedResults.Ok(new SecretResponse(secret, expires));
    }

    public static async Task<Results<Accepted<TestEventResponse>, ProblemHttpResult>> SendTest(
        long id, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        if (await FindAsync(services.Db, http, id, ct) is not { } subscription)
        {
            return NotFound(id);
        }
        if (!subscription.Enabled)
        {
            return Problems.Conflict($"Subscription {id} is disabled; enable it first.");
        }
        var data = new TestEventData(id.ToString(CultureInfo.InvariantCulture), "This is a test event from Feed.");
        await services.Db.Database.OpenConnectionAsync(ct);
        var deliveries = await WebhookPublisher.PublishToAsync(Connection(services.Db), id, WebhookEventTypes.Test, data, DateTimeOffset.UtcNow, ct);
        services.Dispatcher.EnqueueDeliveriesSoon(deliveries);
        var deliveryId = deliveries.Single().ToString(CultureInfo.InvariantCulture);
        return TypedResults.Accepted($"/v1/webhooks/deliveries/{deliveryId}", new TestEventResponse(deliveryId));
    }

    public static async Task<Results<Ok<DeliveryPage>, ValidationProblem, ProblemHttpResult>> ListDeliveries(
        long id, string? status, int? limit, string? before, HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        var errors = Paging.Validate(limit, before, "before", out var pageSize, out var cursor) ?? [];
        DeliveryStatus[]? statuses = null;
        if (status is not null && !DeliveryStatuses.TryParse(status, out statuses))
        {
            errors["status"] = [$"status must be one of: {string.Join(", ", DeliveryStatuses.Names)}."];
        }
        if (errors.Count > 0)
        {
            return Problems.Invalid(errors);
        }
        if (await FindAsync(db, http, id, ct) is null)
        {
            return NotFound(id);
        }
        var below = cursor ?? long.MaxValue;
        var query = db.WebhookDeliveries.AsNoTracking().Where(d => d.SubscriptionId == id && d.Id < below);
        if (statuses is not null)
        {
            query = query.Where(d => statuses.Contains(d.Status));
        }
        var rows = await query.OrderByDescending(d => d.Id).Take(pageSize + 1)
            .Join(db.WebhookEvents, d => d.EventId, e => e.Id, (d, e) => new { Delivery = d, e.Type })
            .ToListAsync(ct);
        var items = rows.Take(pageSize).Select(r => DeliveryResponse.From(r.Delivery, r.Type)).ToList();
        return TypedResults.Ok(new DeliveryPage(items, rows.Count > pageSize ? items[^1].Id : null));
    }

    public static async Task<Results<Ok<DeliveryDetailResponse>, ProblemHttpResult>> GetDelivery(
        long id, HttpContext http, FeedDbContext db, CancellationToken ct)
    {
        var partnerId = http.User.PartnerId();
        var found = await db.WebhookDeliveries.AsNoTracking().Where(d => d.Id == id)
            .Join(db.WebhookSubscriptions.Where(s => s.PartnerId == partnerId), d => d.SubscriptionId, s => s.Id, (d, s) => d)
            .Join(db.WebhookEvents, d => d.EventId, e => e.Id, (d, e) => new { Delivery = d, Event = e })
            .FirstOrDefaultAsync(ct);
        if (found is null)
        {
            return Problems.NotFound($"Delivery {id} does not exist.");
        }
        var attempts = await db.WebhookAttempts.AsNoTracking().Where(a => a.DeliveryId == id).OrderBy(a => a.Id).ToListAsync(ct);
        return TypedResults.Ok(new DeliveryDetailResponse(
            DeliveryResponse.From(found.Delivery, found.Event.Type), found.Event.Payload, attempts.Select(AttemptResponse.From).ToList()));
    }

    public static async Task<Results<Accepted<DeliveryResponse>, ProblemHttpResult>> ReplayDelivery(
        long id, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        var db = services.Db;
        var partnerId = http.User.PartnerId();
        var subscriptionId = await db.WebhookDeliveries.Where(d => d.Id == id)
            .Join(db.WebhookSubscriptions.Where(s => s.PartnerId == partnerId), d => d.SubscriptionId, s => s.Id, (d, s) => (long?)s.Id)
            .FirstOrDefaultAsync(ct);
        if (subscriptionId is null)
        {
            return Problems.NotFound($"Delivery {id} does not exist.");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var subscription = await LockAsync(db, http, subscriptionId.Value, ct);
        if (subscription is null)
        {
            return Problems.NotFound($"Delivery {id} does not exist.");
        }
        if (!subscription.Enabled)
        {
            return Problems.Conflict($"Subscription {subscription.Id} is disabled; enable it before replaying.");
        }
        // A delivery being attempted right now is left alone: its attempt decides what happens next.
        var replayed = await db.Database.SqlQuery<long>($"""
            UPDATE webhook_deliveries SET
                status = 1, next_attempt_at = now(), completed_at = NULL,
                attempts = CASE WHEN status IN (2, 4) THEN 0 ELSE attempts END
            WHERE id = {id} AND (lease_until IS NULL OR lease_until < now())
            RETURNING id AS "Value"
            """).ToListAsync(ct);
        await tx.CommitAsync(ct);
        if (replayed.Count == 0)
        {
            return Problems.Conflict($"Delivery {id} is being attempted right now; try again when the attempt is logged.");
        }
        services.Dispatcher.EnqueueDeliveriesSoon(replayed);
        var delivery = await db.WebhookDeliveries.AsNoTracking().Where(d => d.Id == id)
            .Join(db.WebhookEvents, d => d.EventId, e => e.Id, (d, e) => new { Delivery = d, e.Type }).FirstAsync(ct);
        return TypedResults.Accepted($"/v1/webhooks/deliveries/{id}", DeliveryResponse.From(delivery.Delivery, delivery.Type));
    }

    public static async Task<Results<Accepted<ReplayResponse>, ValidationProblem, ProblemHttpResult>> ReplaySince(
        long id, ReplayRequest request, HttpContext http, [AsParameters] WebhookServices services, CancellationToken ct)
    {
        if (request.Since is not { } since)
        {
            return Problems.Invalid("since", "since is required: an ISO 8601 time such as 2026-11-24T08:00:00Z.");
        }
        var db = services.Db;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await LockAsync(db, http, id, ct) is not { } subscription)
        {
            return NotFound(id);
        }
        if (!subscription.Enabled)
        {
            return Problems.Conflict($"Subscription {id} is disabled; enable it before replaying.");
        }
        var sinceUtc = since.ToUniversalTime();
        var replayed = await db.Database.SqlQuery<long>($"""
            UPDATE webhook_deliveries SET
                status = 1, next_attempt_at = now(), completed_at = NULL,
                attempts = CASE WHEN status = 4 THEN 0 ELSE attempts END
            WHERE subscription_id = {id} AND status IN (3, 4) AND created_at >= {sinceUtc}
              AND (lease_until IS NULL OR lease_until < now())
            RETURNING id AS "Value"
            """).ToListAsync(ct);
        await tx.CommitAsync(ct);
        services.Dispatcher.EnqueueDeliveriesSoon(replayed);
        return TypedResults.Accepted($"/v1/webhooks/subscriptions/{id}/deliveries", new ReplayResponse(replayed.Count));
    }

    private static void ValidateEventTypes(string[]? eventTypes, bool required, Dictionary<string, string[]> errors)
    {
        if (eventTypes is null)
        {
            if (required)
            {
                errors["eventTypes"] = [$"eventTypes is required: one or more of {string.Join(", ", WebhookEventTypes.Subscribable)}."];
            }
            return;
        }
        if (eventTypes.Length is 0 or > MaxEventTypes)
        {
            errors["eventTypes"] = [$"eventTypes must list 1 to {MaxEventTypes} event types."];
        }
        else if (eventTypes.FirstOrDefault(t => !WebhookEventTypes.Subscribable.Contains(t)) is { } unknown)
        {
            errors["eventTypes"] = [$"Unknown event type '{unknown}'; event types are: {string.Join(", ", WebhookEventTypes.Subscribable)}."];
        }
    }

    private static void ValidateDescription(string? description, Dictionary<string, string[]> errors)
    {
        if (description is not null && (description.Length > MaxDescriptionLength || description.Any(c => char.IsControl(c) && c is not ('\n' or '\t'))))
        {
            errors["description"] = [$"description must be at most {MaxDescriptionLength} characters without control characters."];
        }
    }

    private static Task<WebhookSubscription?> FindAsync(FeedDbContext db, HttpContext http, long id, CancellationToken ct)
    {
        var partnerId = http.User.PartnerId();
        return db.WebhookSubscriptions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id && s.PartnerId == partnerId, ct);
    }

    /// <summary>Loads and locks one of the caller's subscriptions (inside the caller's transaction).</summary>
    private static async Task<WebhookSubscription?> LockAsync(FeedDbContext db, HttpContext http, long id, CancellationToken ct)
    {
        var partnerId = http.User.PartnerId();
        var rows = await db.WebhookSubscriptions.FromSql($"SELECT * FROM webhook_subscriptions WHERE id = {id} AND partner_id = {partnerId} FOR UPDATE")
            .AsNoTracking().ToListAsync(ct);
        return rows.SingleOrDefault();
    }

    private static string? NullIfBlank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private static ProblemHttpResult NotFound(long id) => Problems.NotFound($"Subscription {id} does not exist.");

    private static NpgsqlConnection Connection(FeedDbContext db) => (NpgsqlConnection)db.Database.GetDbConnection();

    private static NpgsqlTransaction Transaction(IDbContextTransaction tx) => (NpgsqlTransaction)tx.GetDbTransaction();
}

/// <summary>What the subscription handlers need besides the request.</summary>
public sealed record WebhookServices(
    FeedDbContext Db, WebhookUrlGuard Guard, WebhookSecrets Secrets, OutboxDispatcher Dispatcher, IOptions<WebhookOptions> Options);
