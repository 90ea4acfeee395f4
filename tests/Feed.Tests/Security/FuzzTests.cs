using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Feed.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Feed.Tests.Security;

/// <summary>
/// Hostile input against every operation in the OpenAPI document: malformed and random JSON,
/// huge numbers and strings, invalid UTF-8, control characters, injection strings, hostile path
/// and query values. Never a 5xx; every error is problem+json.
/// </summary>
[Collection(AppCollection.Name)]
public sealed class FuzzTests(FeedApp app, ITestOutputHelper output)
{
    private static readonly string[] HostileValues =
    [
        "", "0", "-1", "1.5", "1e309", "99999999999999999999999999", "9223372036854775807", "NaN", "null", "true",
        "' OR 1=1 --", "\"; DROP TABLE posts; --", "<script>alert(1)</script>", "%00", "%FF%FE", "..%2F..%2Fetc%2Fpasswd",
        "\u0000\u0001\u001b", new string('9', 5000), "😀👨‍👩‍👧", "{}", "[]",
    ];

    private static readonly byte[][] HostileBodies =
    [
        [],
        "{"u8.ToArray(),
        "[]"u8.ToArray(),
        "null"u8.ToArray(),
        "\"just a string\""u8.ToArray(),
        "{\"body\": 1e400, \"handle\": 99999999999999999999999, \"userId\": -5}"u8.ToArray(),
        "{\"body\": {\"nested\": [1, 2, {\"deep\": true}]}, \"handle\": [\"a\"]}"u8.ToArray(),
        "{\"body\": \"\\u0000\\u0001\\u001b control\", \"handle\": \"' OR 1=1 --\", \"displayName\": \"\\ud800\"}"u8.ToArray(),
        [0x7B, 0x22, 0x62, 0x6F, 0x64, 0x79, 0x22, 0x3A, 0x22, 0xC3, 0x28, 0xFF, 0xFE, 0x22, 0x7D], // invalid UTF-8 in a string
        [0xFF, 0xFE, 0x00, 0x7B],
        Encoding.UTF8.GetBytes("{\"body\":\"" + new string('x', 60_000) + "\"}"),
        Encoding.UTF8.GetBytes(new string('[', 5000) + new string(']', 5000)),
        Encoding.UTF8.GetBytes("{\"userId\": \"" + long.MaxValue + "\", \"roles\": [\"admin\", null, 5]}"),
        "{\"url\": \"http://127.0.0.1:1/\\u0000x\", \"eventTypes\": [null, 5, \"post.created\"], \"since\": \"not a date\", \"name\": 1e999}"u8.ToArray(),
        "{\"url\": \"http://[::1\", \"eventTypes\": \"post.created\", \"enabled\": \"yes\", \"description\": [\"x\"]}"u8.ToArray(),
        "{\"url\": \"https://169.254.169.254/latest\", \"eventTypes\": [\"' OR 1=1 --\"], \"since\": \"9999-12-31T23:59:59Z\", \"name\": \"\\u0000\"}"u8.ToArray(),
        "{\"since\": \"0001-01-01T00:00:00Z\", \"name\": \"<script>alert(1)</script>\", \"enabled\": true}"u8.ToArray(),
    ];

    [Fact]
    public async Task Hostile_input_to_every_endpoint_never_yields_a_5xx_and_errors_are_problem_json()
    {
        var user = await app.CreateUserAsync("fuzz");
        var admin = await app.CreateAdminClientAsync();
        var partner = await app.CreatePartnerAsync("fuzz");
        var document = await app.CreateClient().GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var operations = document.GetProperty("paths").EnumerateObject()
            .Where(p => p.Name.StartsWith("/v1/"))
            .SelectMany(p => p.Value.EnumerateObject().Select(op => (Path: p.Name, Method: new HttpMethod(op.Name.ToUpperInvariant()))))
            .ToList();
        Assert.NotEmpty(operations);

        var random = new Random(20261124);
        var requests = 0;
        var failures = new List<string>();
        foreach (var (path, method) in operations)
        {
            foreach (var client in new[] { user.Client, app.CreateClient(), admin, partner.Client })
            {
                for (var i = 0; i < 12; i++)
                {
                    var url = path.Replace("{id}", Uri.EscapeDataString(HostileValues[random.Next(HostileValues.Length)]).Replace("%25", "%"));
                    url += $"?limit={Uri.EscapeDataString(HostileValues[random.Next(HostileValues.Length)])}" +
                           $"&before={Uri.EscapeDataString(HostileValues[random.Next(HostileValues.Length)])}" +
                           $"&cursor={Uri.EscapeDataString(HostileValues[random.Next(HostileValues.Length)])}";
                    using var request = new HttpRequestMessage(method, url);
                    if (method != HttpMethod.Get && method != HttpMethod.Delete)
                    {
                        request.Content = new ByteArrayContent(HostileBodies[random.Next(HostileBodies.Length)]);
                        request.Content.Headers.ContentType = new("application/json");
                    }
                    if (random.Next(4) == 0 && HostileValues[random.Next(HostileValues.Length)] is var key && key.All(char.IsAscii) && !key.Any(char.IsControl))
                    {
                        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
                    }
                    var response = await client.SendAsync(request);
                    requests++;
                    var status = (int)response.StatusCode;
                    var type = response.Content.Headers.ContentType?.MediaType;
                    // Kestrel itself refuses a NUL in the path and over-long request lines before any
                    // application code runs, with an empty 400/414; everything else must be problem+json.
                    var refusedByServer = type is null && (status == 414 || (status == 400 && url.Contains("%00")));
                    if (status >= 500 || (status >= 400 && type != "application/problem+json" && !refusedByServer))
                    {
                        failures.Add($"{method} {url} → {status} {type}: {Truncate(await response.Content.ReadAsStringAsync())}");
                    }
                }
            }
        }

        output.WriteLine($"{requests} hostile requests over {operations.Count} operations");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(10)));
    }

    private static string Truncate(string text) => text.Length > 200 ? text[..200] : text;
}
