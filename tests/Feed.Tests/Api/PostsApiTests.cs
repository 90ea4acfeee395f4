using System.Net;
using System.Net.Http.Json;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Api;

[Collection(AppCollection.Name)]
public sealed class PostsApiTests(FeedApp app)
{
    [Fact]
    public async Task Retried_post_with_the_same_idempotency_key_returns_the_first_result()
    {
        var author = await app.CreateUserAsync("retry");
        var key = Guid.NewGuid().ToString();

        var first = await SendAsync(author, key, "once");
        var second = await SendAsync(author, key, "once");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        var a = await first.Content.ReadFromJsonAsync<PostDto>();
        var b = await second.Content.ReadFromJsonAsync<PostDto>();
        Assert.Equal(a, b);
        Assert.True(second.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id));
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM outbox WHERE post_id = $1", long.Parse(a!.Id)));
    }

    [Fact]
    public async Task Concurrent_retries_with_one_key_write_one_post()
    {
        var author = await app.CreateUserAsync("race");
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => SendAsync(author, key, "raced")));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var ids = await Task.WhenAll(responses.Select(async r => (await r.Content.ReadFromJsonAsync<PostDto>())!.Id));
        Assert.Single(ids.Distinct());
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id));
    }

    [Fact]
    public async Task Reusing_an_idempotency_key_with_another_body_is_422_and_writes_nothing()
    {
        var author = await app.CreateUserAsync("reuse");
        var key = Guid.NewGuid().ToString();
        await SendAsync(author, key, "original");

        var response = await SendAsync(author, key, "different");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id));
    }

    [Fact]
    public async Task Invalid_idempotency_key_is_400()
    {
        var author = await app.CreateUserAsync("badkey");
        var response = await SendAsync(author, new string('k', 256), "x");
        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", author.Id));
    }

    [Fact]
    public async Task Follow_and_unfollow_are_idempotent_and_keep_counts()
    {
        var a = await app.CreateUserAsync("a");
        var b = await app.CreateUserAsync("b");
        await a.FollowAsync(b);
        await a.FollowAsync(b);
        var followee = await a.Client.GetFromJsonAsync<UserDto>($"/v1/users/{b.Id}");
        var follower = await a.Client.GetFromJsonAsync<UserDto>("/v1/users/me");
        Assert.Equal(1, followee!.FollowerCount);
        Assert.Equal(1, follower!.FollowingCount);

        var followers = await a.Client.GetFromJsonAsync<UserPageDto>($"/v1/users/{b.Id}/followers");
        Assert.Equal([a.Id.ToString()], followers!.Items.Select(u => u.Id));

        await a.UnfollowAsync(b);
        await a.UnfollowAsync(b);
        followee = await a.Client.GetFromJsonAsync<UserDto>($"/v1/users/{b.Id}");
        Assert.Equal(0, followee!.FollowerCount);
    }

    [Fact]
    public async Task Followers_are_cursor_paginated()
    {
        var star = await app.CreateUserAsync("star");
        var fans = new List<TestUser>();
        for (var i = 0; i < 4; i++)
        {
            var fan = await app.CreateUserAsync("fan");
            await fan.FollowAsync(star);
            fans.Add(fan);
        }
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await star.Client.GetFromJsonAsync<UserPageDto>(
                $"/v1/users/{star.Id}/followers?limit=3" + (cursor is null ? "" : $"&cursor={cursor}"));
            seen.AddRange(page!.Items.Select(u => u.Id));
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        Assert.Equal(fans.Select(f => f.Id.ToString()).Reverse(), seen);
    }

    private static Task<HttpResponseMessage> SendAsync(TestUser author, string key, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/posts") { Content = JsonContent.Create(new { body }) };
        request.Headers.Add("Idempotency-Key", key);
        return author.Client.SendAsync(request);
    }

    private sealed record UserPageDto(List<UserSummaryDto> Items, string? NextCursor);

    private sealed record UserSummaryDto(string Id, string Handle, string DisplayName);
}
