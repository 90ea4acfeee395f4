using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Hangfire.Dashboard;

namespace Feed.Infrastructure.Hangfire;

/// <summary>
/// Lets a browser into the Hangfire dashboard with the operator credentials configured in
/// <c>Hangfire:DashboardUser</c> and <c>Hangfire:DashboardPassword</c> (HTTP Basic). Without them,
/// everyone is refused: the dashboard can delete and re-run jobs.
/// </summary>
internal sealed class DashboardCredentialsFilter(IConfiguration config) : IDashboardAuthorizationFilter
{
    public bool Authorize(DashboardContext context)
    {
        var http = context.GetHttpContext();
        var user = config["Hangfire:DashboardUser"];
        var password = config["Hangfire:DashboardPassword"];
        if (!string.IsNullOrEmpty(user) && !string.IsNullOrEmpty(password) &&
            AuthenticationHeaderValue.TryParse(http.Request.Headers.Authorization, out var header) &&
            header.Scheme.Equals("Basic", StringComparison.OrdinalIgnoreCase) && header.Parameter is not null)
        {
            try
            {
                var given = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Convert.FromBase64String(header.Parameter)));
                var expected = Encoding.UTF8.GetBytes($"{user}:{password}");
                if (CryptographicOperations.FixedTimeEquals(given, expected))
                {
                    return true;
                }
            }
            catch (FormatException)
            {
                // A malformed header is a refusal like any other.
            }
        }
        http.Response.Headers.WWWAuthenticate = "Basic realm=\"Feed jobs\"";
        return false;
    }
}
