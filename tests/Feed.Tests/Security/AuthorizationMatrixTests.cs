using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Feed.Digests;
using Feed.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Feed.Tests.Security;

/// <summary>Every endpoint × every kind of caller, each answer as documented (README, OpenAPI).</summary>
[Collection(AppCollection.Name)]
public sealed class AuthorizationMatrixTests(FeedApp app)
{
    private enum Caller
    {
        Anonymous,
        Other,
        Owner,
        Admin,
    }

    [Fact]
    public async Task Every_endpoint_answers_each_kind_of_caller_as_documented()
    {
        var owner = await app.CreateUserAsync("owner");
        var other = await app.CreateUserAsync("other");
        var admin = await AdminAsync();
        var clients = new Dictionary<Caller, HttpClient>
        {
            [Caller.Anonymous] = app.CreateClient(),
            [Caller.Other] = other.Client,
            [Caller.Owner] = owner.Client,
            [Caller.Admin] = admin,
        };
        var post = await owner.PostAsync("owned");
        var unsubscribe = $"/v1/digests/unsubscribe?token={app.Services.GetRequiredService<UnsubscribeTokens>().Issue(owner.Id)}";
        var failures = new List<string>();

        // (method, url, body, expected status per caller: anonymous, other, owner, admin)
        var matrix = new (HttpMethod Method, string Url, object? Body, HttpStatusCode[] Expected)[]
        {
            (HttpMethod.Get, "/v1/users/me", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/followers", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/following", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, $"/v1/users/{owner.Id}/posts", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Put, $"/v1/users/me/following/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.NoContent, HttpStatusCode.BadRequest, HttpStatusCode.NoContent]),
            (HttpMethod.Delete, $"/v1/users/me/following/{owner.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.NoContent, HttpStatusCode.BadRequest, HttpStatusCode.NoContent]),
            (HttpMethod.Post, "/v1/posts", new { body = "matrix" }, [HttpStatusCode.Unauthorized, HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created]),
            (HttpMethod.Get, $"/v1/posts/{post.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, "/v1/feed", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, "/v1/users/me/settings", null, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Patch, "/v1/users/me/settings", new { timeZone = "Europe/Berlin" }, [HttpStatusCode.Unauthorized, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            // The unsubscribe link's signed token is the credential, whoever presents it.
            (HttpMethod.Get, unsubscribe, null, [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Post, unsubscribe, null, [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK]),
            (HttpMethod.Get, "/hangfire", null, [HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.OK]),
            // Only the author deletes a post; admins moderate through other tools, not this endpoint.
            (HttpMethod.Delete, $"/v1/posts/{post.Id}", null, [HttpStatusCode.Unauthorized, HttpStatusCode.Forbidden, HttpStatusCode.NoContent, HttpStatusCode.Forbidden]),
            (HttpMethod.Post, "/v1/users", new { handle = $"m_{Guid.NewGuid():N}"[..20] }, [HttpStatusCode.Created, HttpStatusCode.Conflict, HttpStatusCode.Conflict, HttpStatusCode.Conflict]),
        };

        foreach (var (method, url, body, expected) in matrix)
        {
            foreach (var caller in new[] { Caller.Anonymous, Caller.Other, Caller.Admin, Caller.Owner })
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

    private async Task<HttpClient> AdminAsync()
    {
        var user = await app.CreateUserAsync("admin");
        var token = await app.CreateClient().PostAsJsonAsync("/v1/auth/dev-token", new { userId = user.Id.ToString(), roles = new[] { "admin" } });
        token.EnsureSuccessStatusCode();
        var client = app.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await token.Content.ReadFromJsonAsync<TokenDto>())!.Token);
        return client;
    }
}
