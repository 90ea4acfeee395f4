using System.Security.Cryptography;
using System.Text;
using Feed.Infrastructure.Auth;
using Microsoft.Extensions.Options;

namespace Feed.Webhooks;

/// <summary>
/// Signing secrets: makes them (<c>whsec_</c> + base64 of 32 random bytes, as Standard Webhooks
/// specifies), encrypts them at rest with AES-GCM, and signs deliveries with them. Thread-safe.
/// </summary>
public sealed class WebhookSecrets
{
    public const string Prefix = "whsec_";
    private const int SecretBytes = 32;
    private const int NonceBytes = 12;
    private const int TagBytes = 16;

    private readonly byte[] _key;

    public WebhookSecrets(IOptions<WebhookOptions> webhooks, IOptions<AuthOptions> auth)
    {
        var configured = webhooks.Value.SecretsKey;
        _key = string.IsNullOrEmpty(configured)
            ? HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(auth.Value.SigningKey), 32, info: "feed webhook secrets"u8.ToArray())
            : Convert.FromBase64String(configured);
    }

    /// <summary>A new secret, as shown to the partner once.</summary>
    public static string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(SecretBytes));

    /// <summary>The key bytes a secret stands for: its base64 part, decoded (the specification's rule).</summary>
    public static byte[] KeyOf(string secret) => Convert.FromBase64String(secret.StartsWith(Prefix, StringComparison.Ordinal) ? secret[Prefix.Length..] : secret);

    public byte[] Encrypt(string secret)
    {
        var plain = KeyOf(secret);
        var sealedBox = new byte[NonceBytes + plain.Length + TagBytes];
        var nonce = sealedBox.AsSpan(0, NonceBytes);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(_key, TagBytes);
        aes.Encrypt(nonce, plain, sealedBox.AsSpan(NonceBytes, plain.Length), sealedBox.AsSpan(NonceBytes + plain.Length));
        return sealedBox;
    }

    /// <summary>The raw key bytes of a stored secret.</summary>
    public byte[] Decrypt(byte[] sealedBox)
    {
        var length = sealedBox.Length - NonceBytes - TagBytes;
        var plain = new byte[length];
        using var aes = new AesGcm(_key, TagBytes);
        aes.Decrypt(sealedBox.AsSpan(0, NonceBytes), sealedBox.AsSpan(NonceBytes, length), sealedBox.AsSpan(NonceBytes + length), plain);
        return plain;
    }

    /// <summary>
    /// The <c>webhook-signature</c> header: <c>v1,</c> + base64 HMAC-SHA256 of <c>id.timestamp.body</c>
    /// for each key, space-separated (two keys while a rotated-out secret still signs).
    /// </summary>
    public static string Sign(string messageId, long timestamp, string body, IEnumerable<byte[]> keys)
    {
        var content = Encoding.UTF8.GetBytes($"{messageId}.{timestamp}.{body}");
        return string.Join(' ', keys.Select(key => "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, content))));
    }
}

/// <summary>Partner API keys: <c>fpk_</c> + base64url of 32 random bytes; only the SHA-256 is stored.</summary>
public static class PartnerApiKeys
{
    public const string Prefix = "fpk_";
    public const string Header = "X-Api-Key";

    public static string NewKey() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>What an operator sees of a key: enough to tell keys apart, far too little to use.</summary>
    public static string DisplayPrefix(string key) => key[..Math.Min(12, key.Length)];

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
