using System.Net.Http.Json;
using System.Text.Json;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Api;

[Collection(AppCollection.Name)]
public sealed class OpenApiTests(FeedApp app)
{
    [Theory]
    [InlineData("post", "/v1/posts", true)]
    [InlineData("get", "/v1/feed", true)]
    [InlineData("put", "/v1/users/me/following/{id}", true)]
    [InlineData("post", "/v1/users", false)]
    [InlineData("post", "/v1/auth/dev-token", false)]
    [InlineData("patch", "/v1/users/me/settings", true)]
    [InlineData("post", "/v1/digests/unsubscribe", false)]
    public async Task OpenApi_document_describes_the_endpoint_and_its_auth(string method, string path, bool needsToken)
    {
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var operation = document.GetProperty("paths").GetProperty(path).GetProperty(method);
        Assert.Equal(needsToken, operation.TryGetProperty("security", out _));
        Assert.True(operation.GetProperty("responses").TryGetProperty("400", out _));
        Assert.Equal(needsToken, operation.GetProperty("responses").TryGetProperty("401", out _));
        Assert.Equal("http", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("type").GetString());
    }

    [Fact]
    public async Task Every_endpoint_has_a_summary_error_responses_and_examples()
    {
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var operations = document.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => (Name: $"{op.Name.ToUpperInvariant()} {path.Name}", Op: op.Value)))
            .Where(o => o.Name.Contains("/v1/"))
            .ToList();

        Assert.True(operations.Count >= 13, string.Join(", ", operations.Select(o => o.Name)));
        foreach (var (name, op) in operations)
        {
            Assert.False(string.IsNullOrEmpty(op.GetProperty("summary").GetString()), $"{name} has no summary");
            Assert.True(op.GetProperty("responses").TryGetProperty("400", out _), $"{name} does not document 400");
        }
        var get = document.GetProperty("paths").GetProperty("/v1/posts/{id}").GetProperty("get");
        Assert.True(get.GetProperty("responses").TryGetProperty("404", out _));
        var post = document.GetProperty("paths").GetProperty("/v1/posts").GetProperty("post").GetProperty("responses");
        foreach (var status in new[] { "201", "401", "413", "422", "429", "503" })
        {
            Assert.True(post.TryGetProperty(status, out _), $"POST /v1/posts does not document {status}");
        }
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.Equal("Hello, followers!", schemas.GetProperty("CreatePostRequest").GetProperty("examples")[0].GetProperty("body").GetString());
    }
}
