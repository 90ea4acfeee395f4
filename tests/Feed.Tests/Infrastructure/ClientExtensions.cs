using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Feed.Tests.Infrastructure;

internal static class ClientExtensions
{
    public static async Task<PostDto> PostAsync(this TestUser user, string body)
    {
        var response = await user.Client.PostAsJsonAsync("/v1/posts", new { body });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PostDto>())!;
    }

    public static async Task FollowAsync(this TestUser user, TestUser other)
    {
        var response = await user.Client.PutAsync($"/v1/users/me/following/{other.Id}", null);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    public static async Task UnfollowAsync(this TestUser user, TestUser other)
    {
        var response = await user.Client.DeleteAsync($"/v1/users/me/following/{other.Id}");
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
    }

    public static async Task<PageDto> FeedPageAsync(this TestUser user, int limit = 20, string? before = null)
    {
        var url = $"/v1/feed?limit={limit}" + (before is null ? "" : $"&before={before}");
        var response = await user.Client.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PageDto>())!;
    }

    /// <summary>Every item of the feed, read page by page.</summary>
    public static async Task<List<PostDto>> WholeFeedAsync(this TestUser user, int pageSize = 20)
    {
        var items = new List<PostDto>();
        string? cursor = null;
        do
        {
            var page = await user.FeedPageAsync(pageSize, cursor);
            items.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return items;
    }

    /// <summary>Asserts an RFC 9457 problem+json answer with the given status, and returns its document.</summary>
    public static async Task<JsonElement> AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        return problem;
    }
}

internal static class FeedAppExtensions
{
    /// <summary>Creates <paramref name="count"/> users who follow <paramref name="author"/> and have read their feed once.</summary>
    public static async Task<List<TestUser>> CreateFansAsync(this FeedApp app, TestUser author, int count)
    {
        var fans = new List<TestUser>(count);
        for (var i = 0; i < count; i++)
        {
            var fan = await app.CreateUserAsync("fan");
            await fan.FollowAsync(author);
            await fan.FeedPageAsync();
            fans.Add(fan);
        }
        return fans;
    }

    public static async Task<UserDto> ProfileAsync(this TestUser viewer, long userId) =>
        (await viewer.Client.GetFromJsonAsync<UserDto>($"/v1/users/{userId}"))!;
}
