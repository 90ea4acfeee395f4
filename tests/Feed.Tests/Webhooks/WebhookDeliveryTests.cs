using System.Net;
using System.Net.Http.Json;
using Feed.Tests.Infrastructure;
using Feed.Webhooks;

namespace Feed.Tests.Webhooks;

[Collection(AppCollection.Name)]
public sealed class WebhookDeliveryTests(FeedApp app) : IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task Post_created_is_delivered_signed_so_a_standard_webhooks_library_verifies_it()
    {
        var partner = await app.CreatePartnerAsync();
        var endpoint = _receiver.Add("signed");
        var subscription = await partner.SubscribeAsync(_receiver.Url("signed"), "post.created");
        Assert.StartsWith("whsec_", subscription.Secret);
        endpoint.Secrets.Add(subscription.Secret);
        var author = await app.CreateUserAsync();

        var post = await author.PostAsync("hello partners");

        var request = Assert.Single(await _receiver.WaitForAsync("signed", 1));
        Assert.True(request.VerifiedBy[subscription.Secret], "the signature must verify with the subscription's secret");
        Assert.StartsWith("msg_", request.WebhookId);
        Assert.StartsWith("v1,", request.Signature);
        Assert.InRange(long.Parse(request.Timestamp), DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        Assert.Equal("post.created", request.Type);
        Assert.True(request.Json.TryGetProperty("timestamp", out _));
        var data = request.Json.GetProperty("data");
        Assert.Equal(post.Id, data.GetProperty("id").GetString());
        Assert.Equal(author.Id.ToString(), data.GetProperty("authorId").GetString());
        Assert.Equal("hello partners", data.GetProperty("body").GetString());

        var delivery = Assert.Single(await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1));
        Assert.Equal(request.WebhookId, delivery.MessageId);
        Assert.Equal(1, delivery.Attempts);
        var detail = await partner.DeliveryAsync(delivery.Id);
        Assert.Equal(request.Body, detail.Payload);
        var attempt = Assert.Single(detail.Attempts);
        Assert.Equal(200, attempt.StatusCode);
        Assert.Equal("ok", attempt.ResponseBody);
    }

    [Fact]
    public async Task Every_event_type_reaches_the_endpoints_subscribed_to_it_and_only_those()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("all");
        _receiver.Add("follows-only");
        var all = await partner.SubscribeAsync(_receiver.Url("all"), "post.created", "post.deleted", "user.followed", "user.unfollowed");
        await partner.SubscribeAsync(_receiver.Url("follows-only"), "user.followed");
        var author = await app.CreateUserAsync();
        var fan = await app.CreateUserAsync();

        await fan.FollowAsync(author);
        var post = await author.PostAsync("soon gone");
        Assert.Equal(HttpStatusCode.NoContent, (await author.Client.DeleteAsync($"/v1/posts/{post.Id}")).StatusCode);
        await fan.UnfollowAsync(author);

        var received = await _receiver.WaitForAsync("all", 4);
        Assert.Equal(["post.created", "post.deleted", "user.followed", "user.unfollowed"], received.Select(r => r.Type).Order().ToArray());
        var followed = received.Single(r => r.Type == "user.followed").Json.GetProperty("data");
        Assert.Equal(fan.Id.ToString(), followed.GetProperty("followerId").GetString());
        Assert.Equal(author.Id.ToString(), followed.GetProperty("followeeId").GetString());
        Assert.Equal(post.Id, received.Single(r => r.Type == "post.deleted").Json.GetProperty("data").GetProperty("id").GetString());
        await partner.WaitForDeliveriesAsync(all.Subscription.Id, "succeeded", 4);
        var followsOnly = await _receiver.WaitForAsync("follows-only", 1);
        await Task.Delay(300); // anything wrongly sent would have arrived with the others
        Assert.Equal(["user.followed"], _receiver.Get("follows-only").Requests.Select(r => r.Type).ToArray());
        Assert.Equal(received.Single(r => r.Type == "user.followed").Body, followsOnly[0].Body);
    }

    [Fact]
    public async Task After_a_secret_rotation_both_secrets_sign_until_the_overlap_ends()
    {
        var partner = await app.CreatePartnerAsync();
        var endpoint = _receiver.Add("rotating");
        var subscription = await partner.SubscribeAsync(_receiver.Url("rotating"), "post.created");
        var author = await app.CreateUserAsync();

        var rotated = await partner.Client.PostAsync($"/v1/webhooks/subscriptions/{subscription.Subscription.Id}/rotate-secret", null);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        var newSecret = (await rotated.Content.ReadFromJsonAsync<SecretDto>())!;
        Assert.NotEqual(subscription.Secret, newSecret.Secret);
        Assert.True(newSecret.PreviousSecretExpiresAt > DateTimeOffset.UtcNow.AddHours(23));
        endpoint.Secrets.AddRange([subscription.Secret, newSecret.Secret]);
        await author.PostAsync("signed twice");

        var request = Assert.Single(await _receiver.WaitForAsync("rotating", 1));
        Assert.Equal(2, request.Signature.Split(' ').Length);
        Assert.True(request.VerifiedBy[subscription.Secret], "a receiver still on the old secret must verify");
        Assert.True(request.VerifiedBy[newSecret.Secret], "a receiver on the new secret must verify");

        // Once the overlap is over, only the new secret signs.
        await app.ExecuteAsync("UPDATE webhook_subscriptions SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1",
            long.Parse(subscription.Subscription.Id));
        await author.PostAsync("signed once");
        var second = (await _receiver.WaitForAsync("rotating", 2))[1];
        Assert.Single(second.Signature.Split(' '));
        Assert.False(second.VerifiedBy[subscription.Secret]);
        Assert.True(second.VerifiedBy[newSecret.Secret]);
    }

    [Fact]
    public async Task A_failing_delivery_is_retried_on_the_published_schedule_with_the_same_webhook_id()
    {
        var partner = await app.CreatePartnerAsync();
        // Fails three times, then succeeds: the fourth and last attempt of the test schedule.
        var endpoint = _receiver.Add("flaky", attempt => attempt < 4 ? Reply.Fail(503) : Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("flaky"), "post.created");
        endpoint.Secrets.Add(subscription.Secret);
        var author = await app.CreateUserAsync();

        await author.PostAsync("try, try again");

        var requests = await _receiver.WaitForAsync("flaky", 4);
        Assert.Single(requests.Select(r => r.WebhookId).Distinct());
        Assert.Single(requests.Select(r => r.Body).Distinct());
        Assert.All(requests, r => Assert.True(r.VerifiedBy[subscription.Secret]));
        var delivery = Assert.Single(await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1));
        Assert.Equal(4, delivery.Attempts);
        var attempts = (await partner.DeliveryAsync(delivery.Id)).Attempts;
        Assert.Equal([503, 503, 503, 200], attempts.Select(a => a.StatusCode ?? 0).ToArray());
        var schedule = WebhookOptions.ParseSchedule(FeedApp.WebhookSchedule)!;
        for (var i = 1; i < attempts.Count; i++)
        {
            var previous = attempts[i - 1];
            // The retry was planned within the jitter of the schedule's delay, and not attempted before it.
            var planned = previous.NextAttemptAt!.Value - previous.StartedAt;
            Assert.InRange(planned.TotalMilliseconds,
                schedule[i].TotalMilliseconds * (1 - FeedApp.WebhookJitter),
                schedule[i].TotalMilliseconds * (1 + FeedApp.WebhookJitter) + previous.DurationMs + 100);
            Assert.True(attempts[i].StartedAt >= previous.NextAttemptAt.Value.AddMilliseconds(-5),
                $"attempt {i + 1} started at {attempts[i].StartedAt:O}, before its planned time {previous.NextAttemptAt:O}");
        }
        Assert.Null(attempts[^1].NextAttemptAt);
    }

    [Fact]
    public async Task Retry_after_on_429_is_honoured_over_a_shorter_scheduled_delay()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("throttled", attempt => attempt == 1
            ? new Reply(429, "slow down", ExtraHeaders: new() { ["Retry-After"] = "2" })
            : Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("throttled"), "post.created");
        var author = await app.CreateUserAsync();

        await author.PostAsync("throttled");

        var delivery = Assert.Single(await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1));
        var attempts = (await partner.DeliveryAsync(delivery.Id)).Attempts;
        Assert.Equal(2, attempts.Count);
        Assert.Equal(429, attempts[0].StatusCode);
        Assert.True(attempts[0].NextAttemptAt!.Value - attempts[0].StartedAt >= TimeSpan.FromSeconds(2));
        Assert.True(attempts[1].StartedAt >= attempts[0].NextAttemptAt!.Value.AddMilliseconds(-5));
    }

    [Fact]
    public async Task Redirects_are_failures_and_are_not_followed_and_response_bodies_are_capped()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("moved", _ => new Reply(302, "", ExtraHeaders: new() { ["Location"] = $"http://127.0.0.1:{_receiver.Port}/elsewhere/moved" }));
        _receiver.Add("chatty", _ => Reply.Fail(500, new string('x', 5000)));
        var moved = await partner.SubscribeAsync(_receiver.Url("moved"), "post.created");
        var chatty = await partner.SubscribeAsync(_receiver.Url("chatty"), "post.created");
        var author = await app.CreateUserAsync();

        await author.PostAsync("redirected");

        var dead = Assert.Single(await partner.WaitForDeliveriesAsync(moved.Subscription.Id, "dead", 1));
        Assert.Equal(302, dead.LastStatusCode);
        Assert.Equal(0, _receiver.Get("moved").Redirected);
        var chattyDelivery = Assert.Single(await partner.WaitForDeliveriesAsync(chatty.Subscription.Id, "dead", 1));
        var attempts = (await partner.DeliveryAsync(chattyDelivery.Id)).Attempts;
        Assert.Equal(4, attempts.Count);
        Assert.All(attempts, a => Assert.Equal(1024, a.ResponseBody!.Length));
    }

    [Fact]
    public async Task A_dead_lettered_delivery_is_delivered_by_a_replay_once_the_endpoint_is_back()
    {
        var partner = await app.CreatePartnerAsync();
        var down = true;
        var endpoint = _receiver.Add("outage", _ => down ? Reply.Fail(502) : Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("outage"), "post.created");
        var id = subscription.Subscription.Id;
        var author = await app.CreateUserAsync();

        var first = await author.PostAsync("during the outage 1");
        var second = await author.PostAsync("during the outage 2");
        var dead = await partner.WaitForDeliveriesAsync(id, "dead", 2, TimeSpan.FromSeconds(30));
        Assert.All(dead, d => Assert.Equal(4, d.Attempts));
        Assert.All(dead, d => Assert.Contains("dead-lettered", d.LastError));
        Assert.Equal(8, endpoint.Requests.Count);

        down = false;
        // One delivery by itself …
        var replayOne = await partner.Client.PostAsync($"/v1/webhooks/deliveries/{dead[0].Id}/replay", null);
        Assert.Equal(HttpStatusCode.Accepted, replayOne.StatusCode);
        await partner.WaitForDeliveriesAsync(id, "succeeded", 1);
        // … and every failed one since a time.
        var replayAll = await partner.Client.PostAsJsonAsync($"/v1/webhooks/subscriptions/{id}/replay", new { since = DateTimeOffset.UtcNow.AddMinutes(-5) });
        Assert.Equal(HttpStatusCode.Accepted, replayAll.StatusCode);
        Assert.Equal(1, (await replayAll.Content.ReadFromJsonAsync<ReplayDto>())!.Replayed);
        await partner.WaitForDeliveriesAsync(id, "succeeded", 2);

        var successes = endpoint.Requests.Skip(8).ToList();
        Assert.Equal(2, successes.Count);
        Assert.Equal(new[] { first.Id, second.Id }.Order(), successes.Select(r => r.Json.GetProperty("data").GetProperty("id").GetString()).Order());
        Assert.Equal(dead.Select(d => d.MessageId).Order(), successes.Select(r => r.WebhookId).Order());
        Assert.Empty(await partner.DeliveriesAsync(id, "failed"));
    }

    [Fact]
    public async Task Gone_disables_the_endpoint_and_re_enabling_it_lets_a_replay_through()
    {
        var partner = await app.CreatePartnerAsync();
        var gone = true;
        var endpoint = _receiver.Add("gone", _ => gone ? Reply.Fail(410) : Reply.Ok());
        var subscription = await partner.SubscribeAsync(_receiver.Url("gone"), "post.created");
        var id = subscription.Subscription.Id;
        var author = await app.CreateUserAsync();

        await author.PostAsync("to a closed door");
        var dead = Assert.Single(await partner.WaitForDeliveriesAsync(id, "dead", 1));
        Assert.Equal(1, dead.Attempts);
        var disabled = await partner.SubscriptionAsync(id);
        Assert.False(disabled.Enabled);
        Assert.Equal("gone", disabled.DisabledReason);

        // A disabled endpoint gets nothing new, and cannot be replayed to.
        await author.PostAsync("not for a disabled endpoint");
        Assert.Equal(HttpStatusCode.Conflict, (await partner.Client.PostAsync($"/v1/webhooks/deliveries/{dead.Id}/replay", null)).StatusCode);

        gone = false;
        var enable = await partner.Client.PatchAsJsonAsync($"/v1/webhooks/subscriptions/{id}", new { enabled = true });
        Assert.Equal(HttpStatusCode.OK, enable.StatusCode);
        var enabled = (await enable.Content.ReadFromJsonAsync<SubscriptionDto>())!;
        Assert.True(enabled.Enabled);
        Assert.Null(enabled.DisabledReason);
        Assert.Equal(0, enabled.ConsecutiveFailures);
        Assert.Equal(HttpStatusCode.Accepted, (await partner.Client.PostAsync($"/v1/webhooks/deliveries/{dead.Id}/replay", null)).StatusCode);
        await partner.WaitForDeliveriesAsync(id, "succeeded", 1);
        Assert.Equal(2, endpoint.Requests.Count);
        Assert.Single(await partner.DeliveriesAsync(id));
    }

    [Fact]
    public async Task An_endpoint_failing_for_longer_than_the_disable_period_is_disabled()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("long-outage", _ => Reply.Fail(500));
        var subscription = await partner.SubscribeAsync(_receiver.Url("long-outage"), "post.created");
        var id = long.Parse(subscription.Subscription.Id);
        // The endpoint has been failing for six days (the default period is five).
        await app.ExecuteAsync("UPDATE webhook_subscriptions SET failing_since = now() - interval '6 days', consecutive_failures = 1 WHERE id = $1", id);
        var author = await app.CreateUserAsync();

        await author.PostAsync("one more failure");

        Assert.Single(await partner.WaitForDeliveriesAsync(id.ToString(), "dead", 1));
        var disabled = await partner.SubscriptionAsync(id.ToString());
        Assert.False(disabled.Enabled);
        Assert.Equal("failing", disabled.DisabledReason);
    }

    [Fact]
    public async Task A_failing_endpoint_is_circuit_broken_no_attempt_is_made_while_the_circuit_is_open()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("broken", _ => Reply.Fail(500));
        var subscription = await partner.SubscribeAsync(_receiver.Url("broken"), "post.created");
        var id = subscription.Subscription.Id;
        var author = await app.CreateUserAsync();

        // Three deliveries of four attempts: the circuit opens after the tenth consecutive failure.
        for (var i = 0; i < 3; i++)
        {
            await author.PostAsync($"breaking {i}");
        }

        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await partner.SubscriptionAsync(id)).CircuitOpenUntil is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the circuit never opened");
            await Task.Delay(20);
        }
        await partner.WaitForDeliveriesAsync(id, "dead", 3, TimeSpan.FromSeconds(40));

        var attempts = new List<AttemptDto>();
        foreach (var delivery in await partner.DeliveriesAsync(id))
        {
            attempts.AddRange((await partner.DeliveryAsync(delivery.Id)).Attempts);
        }
        Assert.Equal(12, attempts.Count);
        // The failure that opened the circuit is the tenth to be logged; an attempt already under way
        // then may start a moment later, but nothing else until the open period (2 s) is over.
        var opened = attempts.Select(a => a.StartedAt.AddMilliseconds(a.DurationMs)).Order().ElementAt(FeedApp.WebhookCircuitBreakAfter - 1);
        var later = attempts.Where(a => a.StartedAt > opened.AddMilliseconds(250)).ToList();
        Assert.NotEmpty(later);
        Assert.All(later, a => Assert.True(a.StartedAt >= opened.AddSeconds(2).AddMilliseconds(-100),
            $"attempt at {a.StartedAt:O} while the circuit opened at {opened:O} was open"));
    }

    [Fact]
    public async Task A_stalled_endpoint_does_not_delay_deliveries_to_a_healthy_one()
    {
        var partner = await app.CreatePartnerAsync();
        var stalled = _receiver.Add("stalled", _ => Reply.Hang());
        var healthy = _receiver.Add("healthy");
        await partner.SubscribeAsync(_receiver.Url("stalled"), "post.created");
        var healthySubscription = await partner.SubscribeAsync(_receiver.Url("healthy"), "post.created");
        var author = await app.CreateUserAsync();

        for (var i = 0; i < 12; i++)
        {
            await author.PostAsync($"post {i}");
        }

        await _receiver.WaitForAsync("healthy", 12);
        await partner.WaitForDeliveriesAsync(healthySubscription.Subscription.Id, "succeeded", 12);
        // Every healthy delivery was done before the first stalled attempt even timed out, and the
        // stalled endpoint never held more workers than its concurrency cap.
        Assert.Equal(0, stalled.StallsEnded);
        Assert.InRange(stalled.MaxInFlight, 1, FeedApp.WebhookMaxConcurrent);
        Assert.Equal(12, healthy.Requests.Select(r => r.WebhookId).Distinct().Count());
    }

    [Fact]
    public async Task The_test_event_reaches_the_endpoint()
    {
        var partner = await app.CreatePartnerAsync();
        _receiver.Add("test-event");
        var subscription = await partner.SubscribeAsync(_receiver.Url("test-event"), "digest.sent");

        var response = await partner.Client.PostAsync($"/v1/webhooks/subscriptions/{subscription.Subscription.Id}/test", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var request = Assert.Single(await _receiver.WaitForAsync("test-event", 1));
        Assert.Equal("webhook.test", request.Type);
        Assert.Equal(subscription.Subscription.Id, request.Json.GetProperty("data").GetProperty("subscriptionId").GetString());
    }

    private sealed record SecretDto(string Secret, DateTimeOffset PreviousSecretExpiresAt);

    private sealed record ReplayDto(int Replayed);
}
