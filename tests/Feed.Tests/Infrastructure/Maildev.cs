using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MimeKit;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// What the tests' SMTP server (maildev, started by scripts/test.sh) has received, read through its
/// REST API. Tests share the server, so every test reads only the mail of its own unique addresses.
/// </summary>
public sealed class Maildev
{
    public static readonly Maildev Instance = new(
        new Uri($"http://127.0.0.1:{Environment.GetEnvironmentVariable("FEED_TEST_MAILDEV_PORT") ?? "51080"}"));

    private readonly HttpClient _http;
    private string? _emailPath;

    private Maildev(Uri baseAddress) => _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>A fresh address no other test uses.</summary>
    public static string NewAddress(string label = "user") => $"{label}-{Guid.NewGuid():N}@example.test";

    /// <summary>Every message received for <paramref name="address"/>, oldest first, parsed from its raw source.</summary>
    public async Task<List<MimeMessage>> MessagesToAsync(string address)
    {
        var path = await EmailPathAsync();
        var all = await _http.GetFromJsonAsync<JsonElement>(path);
        var messages = new List<MimeMessage>();
        foreach (var email in all.EnumerateArray())
        {
            var to = email.GetProperty("to").EnumerateArray().Select(t => t.GetProperty("address").GetString());
            if (!to.Contains(address, StringComparer.OrdinalIgnoreCase))
            {
                continue;
            }
            await using var source = await _http.GetStreamAsync($"{path}/{email.GetProperty("id").GetString()}/source");
            messages.Add(await MimeMessage.LoadAsync(source));
        }
        return messages;
    }

    /// <summary>Waits until at least <paramref name="count"/> messages for the address have arrived, and returns them all.</summary>
    public async Task<List<MimeMessage>> WaitForAsync(string address, int count = 1, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var messages = await MessagesToAsync(address);
            if (messages.Count >= count)
            {
                return messages;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{messages.Count} of {count} expected messages to {address} arrived.");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// The messages for the address once any mail still in flight has landed: for asserting how many
    /// arrived after every send that could have happened has returned.
    /// </summary>
    public async Task<List<MimeMessage>> SettledAsync(string address)
    {
        await Task.Delay(500);
        return await MessagesToAsync(address);
    }

    // maildev 3 serves its API under /api; maildev 2 at the root.
    private async Task<string> EmailPathAsync()
    {
        if (_emailPath is null)
        {
            using var probe = await _http.GetAsync("/api/email?limit=1");
            _emailPath = probe.StatusCode == HttpStatusCode.NotFound ? "/email" : "/api/email";
        }
        return _emailPath;
    }
}
