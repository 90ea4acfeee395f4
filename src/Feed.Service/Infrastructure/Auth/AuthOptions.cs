using System.ComponentModel.DataAnnotations;
using System.Text;

namespace Feed.Infrastructure.Auth;

/// <summary>JWT bearer settings. Bound from the <c>Auth</c> configuration section.</summary>
public sealed class AuthOptions : IValidatableObject
{
    public const string Section = "Auth";

    /// <summary>HS256 key (at least 32 bytes of UTF-8). Never logged.</summary>
    public string SigningKey { get; set; } = "";

    public string Issuer { get; set; } = "feed";

    public string Audience { get; set; } = "feed-api";

    /// <summary>Whether <c>POST /v1/auth/dev-token</c> mints tokens. Development and tests only.</summary>
    public bool EnableDevTokens { get; set; }

    public TimeSpan DevTokenLifetime { get; set; } = TimeSpan.FromHours(12);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Encoding.UTF8.GetByteCount(SigningKey) < 32)
        {
            yield return new ValidationResult("Auth:SigningKey must be set to at least 32 bytes (HS256).");
        }
    }
}
