using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Feed.Infrastructure.Auth;
using Microsoft.Extensions.Options;

namespace Feed.Digests;

/// <summary>
/// Signed tokens for the unsubscribe links in digest emails: <c>{userId}.{mac}</c>, where mac is
/// base64url HMAC-SHA256 over a purpose string and the user id. Anyone holding the link can turn
/// that one user's digests off, and nothing else: no login, no expiry (links in old emails keep
/// working, as RFC 8058 expects), no other use of the key.
/// </summary>
/// <remarks>
/// The key is <c>Digests:UnsubscribeKey</c>, or else derived from <c>Auth:SigningKey</c> with HKDF
/// under this purpose, so the derived key signs nothing an access token could be confused with.
/// Thread-safe.
/// </remarks>
public sealed class UnsubscribeTokens
{
    private const string Purpose = "feed/digests/unsubscribe/v1";
    private const int MacBytes = 32;
    private const int MaxTokenLength = 100;

    private readonly byte[] _key;

    public UnsubscribeTokens(IOptions<DigestOptions> digests, IOptions<AuthOptions> auth)
    {
        _key = string.IsNullOrEmpty(digests.Value.UnsubscribeKey)
            ? HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(auth.Value.SigningKey), MacBytes, info: Encoding.UTF8.GetBytes(Purpose))
            : Encoding.UTF8.GetBytes(digests.Value.UnsubscribeKey);
    }

    public string Issue(long userId)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(userId);
        return $"{userId.ToString(CultureInfo.InvariantCulture)}.{Base64Url.EncodeToString(Mac(userId))}";
    }

    /// <summary>Checks a token in constant time (for its length); <paramref name="userId"/> is set only when it is valid.</summary>
    public UnsubscribeTokenCheck Verify(string? token, out long userId)
    {
        userId = 0;
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return UnsubscribeTokenCheck.Malformed;
        }
        var dot = token.IndexOf('.');
        if (dot < 1 ||
            !long.TryParse(token.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var claimed) || claimed <= 0)
        {
            return UnsubscribeTokenCheck.Malformed;
        }
        var given = new byte[MacBytes];
        if (!Base64Url.IsValid(token.AsSpan(dot + 1), out var length) || length != MacBytes ||
            Base64Url.DecodeFromChars(token.AsSpan(dot + 1), given) != MacBytes)
        {
            return UnsubscribeTokenCheck.Malformed;
        }
        if (!CryptographicOperations.FixedTimeEquals(given, Mac(claimed)))
        {
            return UnsubscribeTokenCheck.Forged;
        }
        userId = claimed;
        return UnsubscribeTokenCheck.Valid;
    }

    private byte[] Mac(long userId) =>
        HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{Purpose}\n{userId.ToString(CultureInfo.InvariantCulture)}"));
}

public enum UnsubscribeTokenCheck
{
    Valid,

    /// <summary>Not a token at all (missing, truncated, wrong shape): 400.</summary>
    Malformed,

    /// <summary>Well formed, but the signature does not match: 403.</summary>
    Forged,
}
