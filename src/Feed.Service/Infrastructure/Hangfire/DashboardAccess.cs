using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Feed.Infrastructure.Auth;
using Hangfire.Dashboard;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.JwtBearer;

namespace Feed.Infrastructure.Hangfire;

/// <summary>
/// Who may see the Hangfire dashboard, in every environment: a bearer token with the
/// <c>admin</c> role (full access) or the <c>viewer</c> role (read-only), or, for browsers, the
/// operator credentials configured under <c>Hangfire</c> (HTTP Basic): <c>DashboardUser</c> /
/// <c>DashboardPassword</c> for full access, <c>ViewerUser</c> / <c>ViewerPassword</c> for read-only.
/// Anyone else is refused; being on localhost grants nothing.
/// </summary>
internal sealed class DashboardAccess(IConfiguration config) : IDashboardAsyncAuthorizationFilter
{
    private const string LevelKey = "feed.dashboard.level";

    private enum Level
    {
        None,
        ReadOnly,
        Full,
    }

    public async Task<bool> AuthorizeAsync(DashboardContext context)
    {
        var http = context.GetHttpContext();
        var level = await ResolveAsync(http);
        http.Items[LevelKey] = level;
        if (level == Level.None)
        {
            http.Response.Headers.WWWAuthenticate = "Basic realm=\"Feed jobs\", charset=\"UTF-8\"";
        }
        return level != Level.None;
    }

    /// <summary>For <c>DashboardOptions.IsReadOnlyFunc</c>: true unless the caller has full access.</summary>
    public static bool IsReadOnly(DashboardContext context) =>
        context.GetHttpContext().Items[LevelKey] is not Level.Full;

    private async Task<Level> ResolveAsync(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var result = await http.AuthenticateAsync(JwtBearerDefaults.AuthenticationScheme);
            if (result.Succeeded)
            {
                return result.Principal.HasClaim(Roles.ClaimType, Roles.Admin) ? Level.Full
                    : result.Principal.HasClaim(Roles.ClaimType, Roles.Viewer) ? Level.ReadOnly
                    : Level.None;
            }
            return Level.None;
        }
        if (AuthenticationHeaderValue.TryParse(header, out var basic) &&
            basic.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && basic.Parameter is not null)
        {
            byte[] given;
            try
            {
                given = Convert.FromBase64String(basic.Parameter);
            }
            catch (FormatException)
            {
                return Level.None;
            }
            if (Matches(given, config["Hangfire:DashboardUser"], config["Hangfire:DashboardPassword"]))
            {
                return Level.Full;
            }
            if (Matches(given, config["Hangfire:ViewerUser"], config["Hangfire:ViewerPassword"]))
            {
                return Level.ReadOnly;
            }
        }
        return Level.None;
    }

    private static bool Matches(byte[] given, string? user, string? password) =>
        !string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(password) &&
        CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes($"{user}:{password}"));
}
