using System.Net;
using System.Net.Http.Json;
using Feed.Digests;
using Feed.Tests.Infrastructure;
using Feed.Tests.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Security;

/// <summary>
/// Every endpoint × every kind of caller (anonymous, another user, the owner, an admin, the owning
/// partner, another partner), each answer as documented (README, OpenAPI).
/// </summary>
[Collection(AppCollection.Name)]
public sealed class AuthorizationMatrixTests(FeedApp app)
{
    private enum Caller
    {
        Anonymous,
        Other,
        Owner,
        Admin,
        /// <summary>The partner owning the subscription under test.</summary>
        Partner,
        OtherPartner,
    }

    private const HttpStatusCode Unauthorized = HttpStatusCode.Unauthorized;

    [Fact]
    public async Task Every_endpoint_answers_each_kind_of_caller_as_documented()
    {
        var owner = await app.CreateUserAsync("owner");
        var other = await app.CreateUserAsync("other");
        var admin = await app.CreateAdminClientAsync();
        var partner = await app.CreatePartnerAsync("owner");
        var otherPartner = await app.CreatePartnerAsync("other");
        var spare = await app.CreatePartnerAsync("spare");
        var clients = new Dictionary<Caller, HttpClient>
        {
            [Caller.Anonymous] = app.CreateClient(),
            [Caller.Other] = other.Client,
            [Caller.Owner] = owner.Client,
            [Caller.Admin] = admin,
            [Caller.Partner] = partner.Client,
            [Caller.OtherPartner] = otherPartner.Client,
        };
        var post = await owner.PostAsync("owned");
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Add("matrix");
        var subscription = (await partner.SubscribeAsync(receiver.Url("matrix"), "digest.sent")).Subscription.Id;
        Assert.Equal(HttpStatusCode.Accepted, (await partner.Client.PostAsync($"/v1/webhooks/subscriptions/{subscription}/test", null)).StatusCode);
        var delivery = (await partner.WaitForDeliveriesAsync(subscription, "succeeded", 1))[0].Id;
        var unsubscribe = $"/v1/digests/unsubscribe?token={app.Services.GetRequiredService<UnsubscribeTokens>().Issue(owner.Id)}";
        var failures = new List<string>();
        var partnerOnly = new Func<HttpStatusCode, HttpStatusCode[]>(ok => [Unauthorized, Unauthorized, Unauthorized, Unauthorized, ok, HttpStatusCode.NotFound]);
        var adminOnly = new Func<HttpStatusCode, HttpStatusCode[]>(ok =>
            [Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, ok, Unauthorized, Unauthorized]);
        var subscriptionUrl = $"/v1/webhooks/subscriptions/{subscription}";

        // (method, url, body, expected status per caller: anonymous, other user, owner, admin, partner, other partner)
        var matrix = new (HttpMethod Method, string Url, object? Body, HttpStatusCode[] Expected)[]
        {
            (HttpMethod.Get, "/v1/users/me", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/followers", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/following", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/posts", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Put, $"/v1/users/me/following/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.NoContent, HttpStatusCode.BadRequest, HttpStatusCode.NoContent, Unauthorized, Unauthorized]),
            (HttpMethod.Delete, $"/v1/users/me/following/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.NoContent, HttpStatusCode.BadRequest, HttpStatusCode.NoContent, Unauthorized, Unauthorized]),
            (HttpMethod.Post, "/v1/posts", new { body = "matrix" }, [HttpStatusCode.Unauthorized, HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created, Unauthorized, Unauthorized]),
            (HttpMethod.Get, $"/v1/posts/{post.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, "/v1/feed", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Get, "/v1/users/me/settings", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            (HttpMethod.Patch, "/v1/users/me/settings", new { timeZone = "Europe/Berlin" }, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            // The unsubscribe link's signed token is the credential, whoever presents it.
            (HttpMethod.Get, unsubscribe, null, [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Post, unsubscribe, null, [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, "/hangfire", null, [HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.OK, Unauthorized, Unauthorized]),
            // Only the author deletes a post; admins moderate through other tools, not this endpoint.
            (HttpMethod.Delete, $"/v1/posts/{post.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.NoContent, HttpStatusCode.Forbidden, Unauthorized, Unauthorized]),
            (HttpMethod.Post, "/v1/users", new { handle = $"m_{Guid.NewGuid():N}"[..20] },
                [HttpStatusCode.Created, HttpStatusCode.Conflict, HttpStatusCode.Conflict, HttpStatusCode.Conflict, HttpStatusCode.Conflict, HttpStatusCode.Conflict]),
            // Partners: the admin API, then the webhook API (a partner key is not a user credential, nor the reverse).
            (HttpMethod.Post, "/v1/admin/partners", new { name = "matrix" }, adminOnly(HttpStatusCode.Created)),
            (HttpMethod.Get, "/v1/admin/partners", null, adminOnly(HttpStatusCode.OK)),
            (HttpMethod.Get, $"/v1/admin/partners/{partner.Id}", null, adminOnly(HttpStatusCode.OK)),
            (HttpMethod.Post, $"/v1/admin/partners/{spare.Id}/rotate-key", null, adminOnly(HttpStatusCode.OK)),
            (HttpMethod.Delete, $"/v1/admin/partners/{spare.Id}", null, adminOnly(HttpStatusCode.NoContent)),
            (HttpMethod.Get, "/v1/webhooks/event-types", null, [Unauthorized, Unauthorized, Unauthorized, Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, "/v1/webhooks/subscriptions", null, [Unauthorized, Unauthorized, Unauthorized, Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Post, "/v1/webhooks/subscriptions", new { url = receiver.Url("matrix"), eventTypes = new[] { "digest.sent" } },
                [Unauthorized, Unauthorized, Unauthorized, Unauthorized, HttpStatusCode.Created, HttpStatusCode.Created]),
            (HttpMethod.Get, subscriptionUrl, null, partnerOnly(HttpStatusCode.OK)),
            (HttpMethod.Patch, subscriptionUrl, new { description = "matrix" }, partnerOnly(HttpStatusCode.OK)),
            (HttpMethod.Post, $"{subscriptionUrl}/rotate-secret", null, partnerOnly(HttpStatusCode.OK)),
            (HttpMethod.Get, $"{subscriptionUrl}/deliveries", null, partnerOnly(HttpStatusCode.OK)),
            (HttpMethod.Get, $"/v1/webhooks/deliveries/{delivery}", null, partnerOnly(HttpStatusCode.OK)),
            (HttpMethod.Post, $"/v1/webhooks/deliveries/{delivery}/replay", null, partnerOnly(HttpStatusCode.Accepted)),
            (HttpMethod.Post, $"{subscriptionUrl}/replay", new { since = DateTimeOffset.UtcNow.AddDays(-1) }, partnerOnly(HttpStatusCode.Accepted)),
            (HttpMethod.Post, $"{subscriptionUrl}/test", null, partnerOnly(HttpStatusCode.Accepted)),
            (HttpMethod.Delete, subscriptionUrl, null, partnerOnly(HttpStatusCode.NoContent)),
        };

        foreach (var (method, url, body, expected) in matrix)
        {
            // Owners last: their DELETE succeeds and would change what the others see.
            foreach (var caller in new[] { Caller.Anonymous, Caller.Other, Caller.Admin, Caller.OtherPartner, Caller.Owner, Caller.Partner })
            {
                using var request = new HttpRequestMessage(method, url) { Content = body is null ? null : JsonContent.Create(body) };
                var response = await clients[caller].SendAsync(request);
                var want = expected[(int)caller];
                if (response.StatusCode != want)
                {
                    failures.Add($"{method} {url} as {caller}: {(int)response.StatusCode}, documented {(int)want}");
                }
                else if ((int)want >= 400 && url.StartsWith("/v1/") && response.Content.Headers.ContentType?.MediaType != "application/problem+json")
                {
                    failures.Add($"{method} {url} as {caller}: {(int)want} without problem+json");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
