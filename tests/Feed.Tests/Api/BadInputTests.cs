using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using System.Text;
using Feed.Tests.Infrastructure;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Feed.Tests.Api;

/// <summary>Every error a client can cause: a 4xx problem+json with a clear message, and nothing written.</summary>
[Collection(AppCollection.Name)]
public sealed class BadInputTests(FeedApp app)
{
    [Theory]
    [InlineData("{\"body\":", "Failed to read")]
    [InlineData("{\"body\": 123}", "could not be converted")]
    [InlineData("[\"body\"]", "could not be converted")]
    [InlineData("not json", "Failed to read")]
    [InlineData("{\"body\": \"\"}", "body")]
    [InlineData("{\"body\": \"   \"}", "body")]
    [InlineData("{}", "body")]
    [InlineData("{\"body\": \"nul \\u0000 inside\"}", "NUL")]
    public async Task Bad_post_bodies_are_refused_and_write_nothing(string json, string expected)
    {
        var author = await app.CreateUserAsync("bad");
        var response = await author.Client.PostAsync("/v1/posts", new StringContent(json, Encoding.UTF8, "application/json"));

        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains(expected, problem.ToString());
        Assert.Equal(0L, await PostsByAsync(author.Id));
        Assert.Equal(0L, await app.ScalarAsync<long>(
            "SELECT count(*) FROM outbox o JOIN posts p ON p.id = o.post_id WHERE p.author_id = $1", author.Id));
    }

    [Fact]
    public async Task Body_length_counts_text_elements_not_utf16_units()
    {
        var author = await app.CreateUserAsync("long");
        const string family = "👨‍👩‍👧"; // one text element, eight UTF-16 units
        var ok = await author.Client.PostAsJsonAsync("/v1/posts", new { body = string.Concat(Enumerable.Repeat(family, 500)) });
        Assert.Equal(HttpStatusCode.Created, ok.StatusCode);

        var tooLong = await author.Client.PostAsJsonAsync("/v1/posts", new { body = new string('x', 501) });
        var problem = await tooLong.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("at most 500", problem.ToString());
        Assert.Equal(1L, await PostsByAsync(author.Id));
    }

    [Fact]
    public async Task Missing_token_is_401()
    {
        var anonymous = app.CreateClient();
        var response = await anonymous.PostAsJsonAsync("/v1/posts", new { body = "hi" });
        var problem = await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("access token is required", problem.GetProperty("detail").GetString());
        await (await anonymous.GetAsync("/v1/feed")).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Expired_token_is_401_and_writes_nothing()
    {
        var user = await app.CreateUserAsync("expired");
        var client = ClientWithToken(Token(user.Id, FeedApp.SigningKey, DateTime.UtcNow.AddHours(-2), DateTime.UtcNow.AddHours(-1)));

        var response = await client.PostAsJsonAsync("/v1/posts", new { body = "too late" });

        var problem = await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("expired", problem.GetProperty("detail").GetString());
        Assert.Equal(0L, await PostsByAsync(user.Id));
    }

    [Fact]
    public async Task Forged_token_is_401_and_writes_nothing()
    {
        var user = await app.CreateUserAsync("forged");
        var client = ClientWithToken(Token(user.Id, "some-other-key-that-is-long-enough-0123456789", DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddHours(1)));

        var response = await client.PostAsJsonAsync("/v1/posts", new { body = "forged" });

        var problem = await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("invalid", problem.GetProperty("detail").GetString());
        Assert.Equal(0L, await PostsByAsync(user.Id));
    }

    [Fact]
    public async Task Deleting_another_users_post_is_403_and_deletes_nothing()
    {
        var author = await app.CreateUserAsync("owner");
        var intruder = await app.CreateUserAsync("intruder");
        var post = await author.PostAsync("mine");

        var response = await intruder.Client.DeleteAsync($"/v1/posts/{post.Id}");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(1L, await app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE id = $1 AND deleted_at IS NULL", long.Parse(post.Id)));
    }

    [Fact]
    public async Task Following_yourself_is_400_and_writes_nothing()
    {
        var user = await app.CreateUserAsync("narcissus");
        var response = await user.Client.PutAsync($"/v1/users/me/following/{user.Id}", null);
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("yourself", problem.ToString());
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM follows WHERE follower_id = $1", user.Id));
    }

    [Fact]
    public async Task Following_or_reading_an_unknown_id_is_404()
    {
        var user = await app.CreateUserAsync("lost");
        await (await user.Client.PutAsync("/v1/users/me/following/999999999", null)).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.DeleteAsync("/v1/users/me/following/999999999")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.GetAsync("/v1/users/999999999")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.GetAsync("/v1/users/999999999/followers")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.GetAsync("/v1/users/999999999/posts")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.GetAsync("/v1/posts/999999999")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await user.Client.DeleteAsync("/v1/posts/999999999")).AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM follows WHERE follower_id = $1", user.Id));
    }

    [Theory]
    [InlineData("/v1/users/abc")]
    [InlineData("/v1/users/12x/followers")]
    [InlineData("/v1/posts/1.5")]
    [InlineData("/v1/users/99999999999999999999999")]
    public async Task Non_numeric_ids_are_400(string url)
    {
        var user = await app.CreateUserAsync("nan");
        var problem = await (await user.Client.GetAsync(url)).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("id", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Non_numeric_id_on_follow_is_400_and_writes_nothing()
    {
        var user = await app.CreateUserAsync("nan");
        await (await user.Client.PutAsync("/v1/users/me/following/bob", null)).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(0L, await app.ScalarAsync<long>("SELECT count(*) FROM follows WHERE follower_id = $1", user.Id));
    }

    [Theory]
    [InlineData("/v1/feed?limit=0", "limit")]
    [InlineData("/v1/feed?limit=101", "limit")]
    [InlineData("/v1/feed?limit=-5", "limit")]
    [InlineData("/v1/feed?limit=ten", "limit")]
    [InlineData("/v1/feed?before=abc", "before")]
    [InlineData("/v1/feed?before=-1", "before")]
    [InlineData("/v1/users/me/following?limit=500", "limit")]
    public async Task Paging_parameters_out_of_range_are_400(string url, string field)
    {
        var user = await app.CreateUserAsync("pager");
        url = url.Replace("/v1/users/me/following", $"/v1/users/{user.Id}/following");
        var problem = await (await user.Client.GetAsync(url)).AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains(field, problem.ToString());
    }

    [Theory]
    [InlineData("{\"handle\":\"ab\"}", "handle")]
    [InlineData("{\"handle\":\"has space\"}", "handle")]
    [InlineData("{\"handle\":\"waytoolonghandle_0123456789abcdef\"}", "handle")]
    [InlineData("{\"displayName\":\"no handle\"}", "handle")]
    [InlineData("{\"handle\": 5}", "could not be converted")]
    public async Task Bad_user_input_is_400_and_writes_nothing(string json, string expected)
    {
        var before = await app.ScalarAsync<long>("SELECT count(*) FROM users");
        var response = await app.CreateClient().PostAsync("/v1/users", new StringContent(json, Encoding.UTF8, "application/json"));
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains(expected, problem.ToString());
        Assert.Equal(before, await app.ScalarAsync<long>("SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task Handles_are_unique_regardless_of_case()
    {
        var user = await app.CreateUserAsync("Case");
        var response = await app.CreateClient().PostAsJsonAsync("/v1/users", new { handle = user.Handle.ToUpperInvariant() });
        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task Dev_token_for_an_unknown_user_is_404()
    {
        var response = await app.CreateClient().PostAsJsonAsync("/v1/auth/dev-token", new { userId = "424242424242" });
        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    private Task<long> PostsByAsync(long userId) => app.ScalarAsync<long>("SELECT count(*) FROM posts WHERE author_id = $1", userId);

    private HttpClient ClientWithToken(string token)
    {
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static string Token(long userId, string key, DateTime notBefore, DateTime expires) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = "feed",
            Audience = "feed-api",
            Subject = new ClaimsIdentity([new Claim("sub", userId.ToString())]),
            IssuedAt = notBefore,
            NotBefore = notBefore,
            Expires = expires,
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(key)), SecurityAlgorithms.HmacSha256),
        });
}
