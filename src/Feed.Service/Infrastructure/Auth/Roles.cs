namespace Feed.Infrastructure.Auth;

/// <summary>Role claims (<c>role</c>) an access token can carry.</summary>
public static class Roles
{
    /// <summary>Operators: the full Hangfire dashboard and the admin API.</summary>
    public const string Admin = "admin";

    /// <summary>Read-only operators: the Hangfire dashboard without its buttons.</summary>
    public const string Viewer = "viewer";

    /// <summary>Given to partners authenticated by API key; never carried by a user token.</summary>
    public const string Partner = "partner";

    public const string ClaimType = "role";

    public static readonly IReadOnlyList<string> All = [Admin, Viewer];
}
