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
    public async Task OpenApi_document_describes_the_endpoint_and_its_auth(string method, string path, bool needsToken)
    {
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var operation = document.GetProperty("paths").GetProperty(path).GetProperty(method);
        Assert.Equal(needsToken, operation.TryGetProperty("security", out _));
        Assert.True(operation.GetProperty("responses").TryGetProperty("400", out _));
        Assert.Equal(needsToken, operation.GetProperty("responses").TryGetProperty("401", out _));
        Assert.Equal("http", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("type").GetString());
    }
}
