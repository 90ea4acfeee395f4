using Feed.Digests;
using Feed.Tests.Digests;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Webhooks;

[Collection(AppCollection.Name)]
public sealed class DigestSentWebhookTests(FeedApp app) : IAsyncLifetime
{
    private WebhookReceiver _receiver = null!;

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    [Fact]
    public async Task A_sent_digest_is_announced_once_to_partners_subscribed_to_digest_sent()
    {
        var partner = await app.CreatePartnerAsync();
        var endpoint = _receiver.Add("digests");
        var subscription = await partner.SubscribeAsync(_receiver.Url("digests"), "digest.sent");
        endpoint.Secrets.Add(subscription.Secret);
        var reader = await app.CreateSubscriberAsync();
        var author = await app.CreateUserAsync("author");
        await reader.User.FollowAsync(author);
        await author.PostAsync("worth a digest");

        Assert.Equal(DigestOutcome.Sent, await app.Sender().RunAsync(reader.Id, "2026-07-01", default));
        Assert.Equal(DigestOutcome.AlreadyClaimed, await app.Sender().RunAsync(reader.Id, "2026-07-01", default));

        var request = Assert.Single(await _receiver.WaitForAsync("digests", 1));
        Assert.Equal("digest.sent", request.Type);
        Assert.True(request.VerifiedBy[subscription.Secret]);
        var data = request.Json.GetProperty("data");
        Assert.Equal(reader.Id.ToString(), data.GetProperty("userId").GetString());
        Assert.Equal("2026-07-01", data.GetProperty("period").GetString());
        Assert.Equal(1, data.GetProperty("postCount").GetInt32());
        await partner.WaitForDeliveriesAsync(subscription.Subscription.Id, "succeeded", 1);
        await Task.Delay(300);
        Assert.Single(endpoint.Requests);
    }
}
