using System.Globalization;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Feed.Infrastructure.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Feed.Webhooks;

/// <summary>
/// Authenticates partners by the <c>X-Api-Key</c> header: the key's SHA-256 is looked up among the
/// partners that are not disabled. Partners are a separate audience from users: a partner key never
/// reaches the user API and a user token never reaches the webhook API.
/// </summary>
internal sealed class PartnerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggers,
    UrlEncoder encoder,
    NpgsqlDataSource postgres,
    IProblemDetailsService problems) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggers, encoder)
{
    public const string SchemeName = "PartnerApiKey";
    public const string PartnerIdClaim = "partner_id";

    private const string LookupSql = "SELECT id, name FROM partners WHERE api_key_hash = $1 AND disabled_at IS NULL";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(PartnerApiKeys.Header, out var values) || values.Count != 1 || string.IsNullOrEmpty(values[0]))
        {
            return AuthenticateResult.NoResult();
        }
        await using var cmd = postgres.CreateCommand(LookupSql);
        cmd.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = PartnerApiKeys.Hash(values[0]!) });
        await using var row = await cmd.ExecuteReaderAsync(Context.RequestAborted);
        if (!await row.ReadAsync(Context.RequestAborted))
        {
            return AuthenticateResult.Fail("Unknown or disabled API key.");
        }
        var identity = new ClaimsIdentity(
            [
                new Claim(PartnerIdClaim, row.GetInt64(0).ToString(CultureInfo.InvariantCulture)),
                new Claim("name", row.GetString(1)),
                new Claim(Roles.ClaimType, Roles.Partner),
            ],
            SchemeName, "name", Roles.ClaimType);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = $"ApiKey header=\"{PartnerApiKeys.Header}\"";
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "Unauthorized",
                Detail = result.Failure is null
                    ? $"A partner API key is required ({PartnerApiKeys.Header} header)."
                    : "The partner API key is unknown or disabled.",
            },
        });
    }
}

/// <summary>Authorization policies beyond "any signed-in user".</summary>
public static class Policies
{
    /// <summary>A partner, by API key.</summary>
    public const string Partner = "partner";

    /// <summary>A user token carrying the <c>admin</c> role.</summary>
    public const string Admin = "admin";

    public static void Add(Microsoft.AspNetCore.Authorization.AuthorizationOptions options)
    {
        options.AddPolicy(Partner, policy => policy
            .AddAuthenticationSchemes(PartnerAuthenticationHandler.SchemeName)
            .RequireClaim(PartnerAuthenticationHandler.PartnerIdClaim));
        options.AddPolicy(Admin, policy => policy
            .AddAuthenticationSchemes(JwtBearerDefaults.AuthenticationScheme)
            .RequireAuthenticatedUser()
            .RequireRole(Roles.Admin));
    }

    /// <summary>The calling partner's id (validated by <see cref="PartnerAuthenticationHandler"/>).</summary>
    public static long PartnerId(this ClaimsPrincipal principal) =>
        long.Parse(principal.FindFirstValue(PartnerAuthenticationHandler.PartnerIdClaim)
            ?? throw new InvalidOperationException("No partner on this request."), CultureInfo.InvariantCulture);
}
