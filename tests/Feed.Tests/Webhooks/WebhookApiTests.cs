using System.Net;
using System.Net.Http.Json;
using Feed.Tests.Infrastructure;
using Feed.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Webhooks;

[Collection(AppCollection.Name)]
public sealed class WebhookApiTests(FeedApp app) : IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    private Task<long> SubscriptionCountAsync(long partnerId) =>
        app.ScalarAsync<long>("SELECT count(*) FROM webhook_subscriptions WHERE partner_id = $1", partnerId);

    [Theory]
    [InlineData("http://10.0.0.1/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://192.168.1.10/hook")]
    [InlineData("http://172.16.5.5/hook")]
    [InlineData("http://100.64.0.1/hook")]
    [InlineData("http://[::1]:8080/hook")]
    [InlineData("http://[fd00:ec2::254]/latest")]
    [InlineData("http://[::ffff:10.0.0.1]/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://127.0.0.2/hook")]
    [InlineData("http://localhost.invalid/hook")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("http://user:password@127.0.0.1/hook")]
    [InlineData("/relative/hook")]
    public async Task Subscribing_a_url_that_reaches_a_private_or_forbidden_address_is_refused(string url)
    {
        var partner = await app.CreatePartnerAsync();

        var response = await partner.Client.PostAsJsonAsync("/v1/webhooks/subscriptions", new { url, eventTypes = new[] { "post.created" } });

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("url", out _));
        Assert.Equal(0, await SubscriptionCountAsync(partner.Id));
    }

    [Fact]
    public async Task The_address_is_checked_again_at_delivery_time()
    {
        var partner = await app.CreatePartnerAsync();
        var endpoint = _receiver.Add("rebound");
        var subscription = await partner.SubscribeAsync(_receiver.Url("rebound"), "post.created");
        // As if DNS now answered with an address outside the allowlist (127.0.0.2 reaches the receiver too).
        await app.ExecuteAsync("UPDATE webhook_subscriptions SET url = $2 WHERE id = $1",
            long.Parse(subscription.Subscription.Id), _receiver.Url("rebound", "127.0.0.2"));
        var author = await app.CreateUserAsync();

        await author.PostAsync("must not arrive");

        var dead = Assert.Single(await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "dead", 1));
        Assert.Null(dead.LastStatusCode);
        Assert.Contains("refused", dead.LastError);
        Assert.Empty(endpoint.Requests);
    }

    [Fact]
    public async Task A_partner_cannot_see_or_touch_another_partners_subscriptions()
    {
        var owner = await app.CreatePartnerAsync("owner");
        var other = await app.CreatePartnerAsync("other");
        _receiver.Add("owned");
        var subscription = await owner.SubscribeAsync(_receiver.Url("owned"), "post.created");
        var id = subscription.Subscription.Id;
        var author = await app.CreateUserAsync();
        await author.PostAsync("for the owner only");
        var delivery = Assert.Single(await owner.WaitForDeliveriesAsync(id, "succeeded", 1));

        var attempts = new[]
        {
            await other.Client.GetAsync($"/v1/webhooks/subscriptions/{id}"),
            await other.Client.PatchAsJsonAsync($"/v1/webhooks/subscriptions/{id}", new { description = "mine now" }),
            await other.Client.PostAsync($"/v1/webhooks/subscriptions/{id}/rotate-secret", null),
            await other.Client.PostAsync($"/v1/webhooks/subscriptions/{id}/test", null),
            await other.Client.GetAsync($"/v1/webhooks/subscriptions/{id}/deliveries"),
            await other.Client.PostAsJsonAsync($"/v1/webhooks/subscriptions/{id}/replay", new { since = DateTimeOffset.UtcNow.AddDays(-1) }),
            await other.Client.GetAsync($"/v1/webhooks/deliveries/{delivery.Id}"),
            await other.Client.PostAsync($"/v1/webhooks/deliveries/{delivery.Id}/replay", null),
            await other.Client.DeleteAsync($"/v1/webhooks/subscriptions/{id}"),
        };

        foreach (var response in attempts)
        {
            await response.AssertProblemAsync(HttpStatusCode.NotFound);
        }
        var list = await other.Client.GetFromJsonAsync<SubscriptionPageDto>("/v1/webhooks/subscriptions");
        Assert.Empty(list!.Items);
        var mine = await owner.SubscriptionAsync(id);
        Assert.Equal("test endpoint", mine.Description);
        Assert.Null(mine.PreviousSecretExpiresAt);
        Assert.Single(await owner.DeliveriesAsync(id));
        Assert.Single(_receiver.Get("owned").Requests);
    }

    [Fact]
    public async Task Subscriptions_can_be_listed_updated_and_deleted_by_their_partner()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("crud");
        var created = await partner.SubscribeAsync(_receiver.Url("crud"), "post.created");
        var id = created.Subscription.Id;

        var list = await partner.Client.GetFromJsonAsync<SubscriptionPageDto>("/v1/webhooks/subscriptions");
        Assert.Equal(id, Assert.Single(list!.Items).Id);
        var updated = await partner.Client.PatchAsJsonAsync($"/v1/webhooks/subscriptions/{id}",
            new { eventTypes = new[] { "post.deleted", "user.followed" }, description = "" });
        Assert.Equal(HttpStatusCode.OK, updated.StatusCode);
        var subscription = (await updated.Content.ReadFromJsonAsync<SubscriptionDto>())!;
        Assert.Equal(["post.deleted", "user.followed"], subscription.EventTypes);
        Assert.Null(subscription.Description);
        Assert.Equal(_receiver.Url("crud"), subscription.Url);
        var json = await (await partner.Client.GetAsync($"/v1/webhooks/subscriptions/{id}")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("whsec_", json);
        Assert.DoesNotContain("secret\"", json);

        Assert.Equal(HttpStatusCode.NoContent, (await partner.Client.DeleteAsync($"/v1/webhooks/subscriptions/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await partner.Client.GetAsync($"/v1/webhooks/subscriptions/{id}")).StatusCode);
        Assert.Equal(0, await SubscriptionCountAsync(partner.Id));
    }

    [Fact]
    public async Task Bad_subscription_input_is_refused_with_problem_json_and_writes_nothing()
    {
        var partner = await app.CreatePartnerAsync();
        var url = _receiver.Url("bad-input");
        object[] bodies =
        [
            new { eventTypes = new[] { "post.created" } },
            new { url = "not a url", eventTypes = new[] { "post.created" } },
            new { url },
            new { url, eventTypes = Array.Empty<string>() },
            new { url, eventTypes = new[] { "post.exploded" } },
            new { url, eventTypes = new[] { "webhook.test" } },
            new { url, eventTypes = new[] { "post.created" }, description = new string('d', 501) },
            new { url, eventTypes = new[] { "post.created" }, description = "bell\u0007" },
            new { url, eventTypes = new[] { "post.created" }, enabled = false },
            new { url = url + new string('a', 2100), eventTypes = new[] { "post.created" } },
        ];
        foreach (var body in bodies)
        {
            var response = await partner.Client.PostAsJsonAsync("/v1/webhooks/subscriptions", body);
            await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        }
        var malformed = await partner.Client.PostAsync("/v1/webhooks/subscriptions",
            new StringContent("{\"url\": ", System.Text.Encoding.UTF8, "application/json"));
        await malformed.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(0, await SubscriptionCountAsync(partner.Id));

        var created = await partner.SubscribeAsync(url, "post.created");
        var id = created.Subscription.Id;
        await (await partner.Client.PatchAsJsonAsync($"/v1/webhooks/subscriptions/{id}", new { url = "http://10.1.1.1/x" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.PatchAsJsonAsync($"/v1/webhooks/subscriptions/{id}", new { eventTypes = new[] { "nope" } }))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.PostAsJsonAsync($"/v1/webhooks/subscriptions/{id}/replay", new { }))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.PostAsJsonAsync($"/v1/webhooks/subscriptions/{id}/replay", new { since = "yesterday" }))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.GetAsync($"/v1/webhooks/subscriptions/{id}/deliveries?status=lost"))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.GetAsync($"/v1/webhooks/subscriptions/{id}/deliveries?limit=0"))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await partner.Client.GetAsync("/v1/webhooks/subscriptions/not-a-number"))
            .AssertProblemAsync(HttpStatusCode.BadRequest);
        var unchanged = await partner.SubscriptionAsync(id);
        Assert.Equal(url, unchanged.Url);
        Assert.Equal(["post.created"], unchanged.EventTypes);
    }

    [Fact]
    public async Task The_webhook_api_needs_a_partner_key_and_the_partner_api_needs_an_admin()
    {
        var user = await app.CreateUserAsync();
        var anonymous = app.CreateClient();
        var wrongKey = app.CreateClient();
        wrongKey.DefaultRequestHeaders.Add("X-Api-Key", "fpk_not-a-real-key");

        await (await anonymous.GetAsync("/v1/webhooks/subscriptions")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await wrongKey.GetAsync("/v1/webhooks/subscriptions")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await user.Client.GetAsync("/v1/webhooks/subscriptions")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var before = await app.ScalarAsync<long>("SELECT count(*) FROM partners");
        await (await anonymous.PostAsJsonAsync("/v1/admin/partners", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await user.Client.PostAsJsonAsync("/v1/admin/partners", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Forbidden);
        var partner = await app.CreatePartnerAsync();
        await (await partner.Client.PostAsJsonAsync("/v1/admin/partners", new { name = "x" })).AssertProblemAsync(HttpStatusCode.Unauthorized);
        // A partner key is not a user credential either.
        await (await partner.Client.GetAsync("/v1/feed")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var admin = await app.CreateAdminClientAsync();
        await (await admin.PostAsJsonAsync("/v1/admin/partners", new { name = "" })).AssertProblemAsync(HttpStatusCode.BadRequest);
        await (await admin.PostAsJsonAsync("/v1/admin/partners", new { name = new string('n', 101) })).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(before + 1, await app.ScalarAsync<long>("SELECT count(*) FROM partners"));
    }

    [Fact]
    public async Task A_rotated_or_disabled_partner_key_stops_working_at_once()
    {
        var admin = await app.CreateAdminClientAsync();
        var partner = await app.CreatePartnerAsync();
        Assert.Equal(HttpStatusCode.OK, (await partner.Client.GetAsync("/v1/webhooks/subscriptions")).StatusCode);
        var stored = await app.ScalarAsync<byte[]>("SELECT api_key_hash FROM partners WHERE id = $1", partner.Id);
        Assert.DoesNotContain(partner.ApiKey, System.Text.Encoding.UTF8.GetString(stored));

        var rotated = await admin.PostAsync($"/v1/admin/partners/{partner.Id}/rotate-key", null);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var newKey = (await rotated.Content.ReadFromJsonAsync<PartnerKeyDto>())!.ApiKey;
        await (await partner.Client.GetAsync("/v1/webhooks/subscriptions")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        var renewed = app.CreateClient();
        renewed.DefaultRequestHeaders.Add("X-Api-Key", newKey);
        Assert.Equal(HttpStatusCode.OK, (await renewed.GetAsync("/v1/webhooks/subscriptions")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/admin/partners/{partner.Id}")).StatusCode);
        await (await renewed.GetAsync("/v1/webhooks/subscriptions")).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await admin.GetAsync("/v1/admin/partners/12345")).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_same_delivery_job_run_twice_at_once_sends_once()
    {
        var partner = await app.CreatePartnerAsync();
        var endpoint = _receiver.Add("twice", _ => Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("twice"), "post.created");
        var author = await app.CreateUserAsync();
        await author.PostAsync("exactly once");
        var delivery = Assert.Single(await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1));
        await _receiver.WaitForAsync("twice", 1);
        // Make it due again (as a replay would) and run two copies of its job side by side.
        await app.ExecuteAsync("UPDATE webhook_deliveries SET status = 1, attempts = 0, next_attempt_at = now() WHERE id = $1", long.Parse(delivery.Id));

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
            ActivatorUtilities.CreateInstance<DeliverWebhookJob>(app.Services).RunAsync(long.Parse(delivery.Id), CancellationToken.None))));

        await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1);
        await Task.Delay(500);
        Assert.Equal(2, endpoint.Requests.Count);
        Assert.Equal(2, (await partner.DeliveryAsync(delivery.Id)).Attempts.Count);
    }

    [Fact]
    public async Task A_retry_lost_with_a_flushed_redis_is_still_delivered()
    {
        var partner = await app.CreatePartnerAsync();
        // The first attempt asks for a retry in 3 s: time enough to lose the scheduled retry job.
        var endpoint = _receiver.Add("flushed", attempt => attempt == 1
            ? new Reply(503, "later", ExtraHeaders: new() { ["Retry-After"] = "3" })
            : Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("flushed"), "post.created");
        var author = await app.CreateUserAsync();
        await author.PostAsync("survives a flush");
        await _receiver.WaitForAsync("flushed", 1);
        await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "retrying", 1);

        await app.FlushRedisAsync(); // the scheduled retry is gone with Hangfire's data

        await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1, TimeSpan.FromSeconds(30));
        Assert.Equal(2, endpoint.Requests.Count);
    }

    private sealed record SubscriptionPageDto(List<SubscriptionDto> Items, string? NextCursor);
}
