using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace Feed.Webhooks;

/// <summary>
/// Keeps partner endpoints from reaching into our own network (SSRF): a URL must be https (http only
/// if configured), carry no credentials, and resolve only to public addresses unless an allowlisted
/// network says otherwise. Checked at subscribe time and again on every connection, against the
/// address actually dialled, so a DNS answer that changes later (rebinding) cannot get through.
/// </summary>
public sealed class WebhookUrlGuard(IOptions<WebhookOptions> options)
{
    public const int MaxUrlLength = 2048;

    /// <summary>Never reachable by a webhook, whatever DNS says: private, loopback, link-local (cloud metadata), and reserved space.</summary>
    private static readonly IPNetwork[] Forbidden =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),   // carrier-grade NAT
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"),  // link-local, cloud metadata (169.254.169.254)
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.0.0.0/24"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"),
        IPNetwork.Parse("224.0.0.0/4"),     // multicast
        IPNetwork.Parse("240.0.0.0/4"),     // reserved, broadcast
        IPNetwork.Parse("::/128"),
        IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("64:ff9b::/96"),    // NAT64 of any IPv4 address
        IPNetwork.Parse("fc00::/7"),        // unique local, AWS metadata fd00:ec2::254
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("ff00::/8"),
    ];

    private readonly WebhookOptions _options = options.Value;

    /// <summary>Checks a URL's form and where its host resolves now. Returns the reason it is refused, or null.</summary>
    public async Task<string?> CheckAsync(string? url, CancellationToken ct)
    {
        if (CheckForm(url, out var uri) is { } error)
        {
            return error;
        }
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(uri!.IdnHost.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(uri.IdnHost, ct);
        }
        catch (SocketException)
        {
            return $"url's host '{uri!.Host}' could not be resolved.";
        }
        if (addresses.Length == 0)
        {
            return $"url's host '{uri.Host}' has no address.";
        }
        return addresses.FirstOrDefault(a => !IsAllowed(a)) is { } refused
            ? $"url's host '{uri.Host}' resolves to {refused}, a private, loopback, link-local or reserved address; webhooks may only call public addresses."
            : null;
    }

    /// <summary>Checks what can be checked without DNS: scheme, credentials, length. Returns the reason it is refused, or null.</summary>
    public string? CheckForm(string? url, out Uri? uri)
    {
        uri = null;
        if (string.IsNullOrWhiteSpace(url) || url.Length > MaxUrlLength || url.Any(char.IsControl))
        {
            return $"url is required and must be at most {MaxUrlLength} characters without control characters.";
        }
        if (!Uri.TryCreate(url, UriKind.Absolute, out uri) || uri.Scheme is not ("https" or "http") || string.IsNullOrEmpty(uri.Host))
        {
            return "url must be an absolute https URL.";
        }
        if (uri.Scheme == "http" && !_options.AllowHttp)
        {
            return "url must use https.";
        }
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "url must not contain credentials; authenticate deliveries by their signature.";
        }
        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            return "url must not contain a fragment.";
        }
        return null;
    }

    public bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (_options.Allowed.Any(n => n.Contains(address)))
        {
            return true;
        }
        return !Forbidden.Any(n => n.Contains(address));
    }

    /// <summary>
    /// The connect step of the delivery client: resolves the host, refuses every forbidden address, and
    /// connects to the first allowed one, so the check holds for the very socket the request uses.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var allowed = addresses.Where(IsAllowed).ToArray();
        if (allowed.Length == 0)
        {
            throw new WebhookAddressRefusedException(
                $"{host} resolves only to private, loopback, link-local or reserved addresses ({string.Join(", ", addresses.Take(3))}); refused.");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The endpoint's address is not one webhooks may call.</summary>
public sealed class WebhookAddressRefusedException(string message) : Exception(message);
