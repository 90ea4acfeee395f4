using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Feed.Infrastructure.Http;

/// <summary>
/// Adds what the handler signatures cannot say to the OpenAPI document: the bearer scheme, which
/// operations need it, and the problem+json errors every endpoint can answer with.
/// </summary>
internal static class OpenApiConventions
{
    public const string BearerScheme = "Bearer";
    public const string ApiKeyScheme = "PartnerApiKey";

    public static void Configure(OpenApiOptions options)
    {
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "Feed API";
            document.Info.Description =
                "Home feeds with fan-out on write for ordinary authors and fan-out on read for celebrities. " +
                "Ids are strings. Errors are RFC 9457 problem+json documents.";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                BearerFormat = "JWT",
                Description = "HS256 JWT whose `sub` is the user id. In Development: POST /v1/auth/dev-token.",
            };
            document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = Webhooks.PartnerApiKeys.Header,
                Description = "A partner's API key, issued by an admin (POST /v1/admin/partners). Only the webhook API accepts it.",
            };
            return Task.CompletedTask;
        });
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (Examples.TryGetValue(context.JsonTypeInfo.Type, out var example))
            {
                schema.Examples = [System.Text.Json.Nodes.JsonNode.Parse(example)!];
            }
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            operation.Responses ??= new OpenApiResponses();
            var requiresAuth = metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
            if (requiresAuth)
            {
                var partner = metadata.OfType<IAuthorizeData>().Any(a => a.Policy == Webhooks.Policies.Partner);
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement
                {
                    [new OpenApiSecuritySchemeReference(partner ? ApiKeyScheme : BearerScheme, context.Document)] = [],
                });
                operation.Responses.TryAdd("401", Problem(partner ? "Missing or unknown partner API key." : "Missing, expired or invalid access token."));
            }
            operation.Responses.TryAdd("400", Problem("Malformed JSON, wrong types or invalid parameters."));
            operation.Responses.TryAdd("503", Problem("A storage dependency is unavailable; retry after the Retry-After header."));
            return Task.CompletedTask;
        });
    }

    /// <summary>Example bodies, so the interactive UI has something to send.</summary>
    private static readonly Dictionary<Type, string> Examples = new()
    {
        [typeof(Posts.CreatePostRequest)] = """{"body":"Hello, followers!"}""",
        [typeof(Users.CreateUserRequest)] = """{"handle":"alice","displayName":"Alice"}""",
        [typeof(Feed.Auth.DevTokenRequest)] = """{"userId":"245193479987203","roles":[]}""",
        [typeof(Posts.PostResponse)] = """{"id":"245193483964421","authorId":"245193479987203","body":"Hello, followers!","createdAt":"2026-11-24T20:14:50.418038+00:00"}""",
        [typeof(Posts.PostPage)] = """{"items":[{"id":"245193483964421","authorId":"245193479987203","body":"Hello, followers!","createdAt":"2026-11-24T20:14:50.418038+00:00"}],"nextCursor":"245193483964421"}""",
        [typeof(Webhooks.SubscriptionRequest)] = """{"url":"https://partner.example/webhooks/feed","eventTypes":["post.created","post.deleted"],"description":"Production listener"}""",
        [typeof(Webhooks.CreatePartnerRequest)] = """{"name":"Acme Analytics"}""",
        [typeof(Webhooks.ReplayRequest)] = """{"since":"2026-11-24T08:00:00Z"}""",
        [typeof(Users.UserResponse)] = """{"id":"245193479987203","handle":"alice","displayName":"Alice","createdAt":"2026-11-24T20:14:49.450004+00:00","followerCount":1,"followingCount":0,"isCelebrity":false}""",
    };

    private static OpenApiResponse Problem(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            ["application/problem+json"] = new OpenApiMediaType(),
        },
    };
}
