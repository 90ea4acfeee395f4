using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Feed.Tests.Infrastructure;

namespace Feed.Tests.Digests;

/// <summary>Email, time zone and digest subscription: GET and partial PATCH of /v1/users/me/settings.</summary>
[Collection(AppCollection.Name)]
public sealed class UserSettingsTests(FeedApp app)
{
    private const string Url = "/v1/users/me/settings";

    [Fact]
    public async Task New_users_have_digests_off_in_utc_and_can_opt_in_with_a_partial_update()
    {
        var user = await app.CreateUserAsync("settings");
        var before = await SettingsAsync(user);
        Assert.Equal(JsonValueKind.Null, before.GetProperty("email").ValueKind);
        Assert.Equal("UTC", before.GetProperty("timeZone").GetString());
        Assert.False(before.GetProperty("digestEnabled").GetBoolean());
        Assert.Equal("daily", before.GetProperty("digestFrequency").GetString());

        var email = NewEmail();
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, $$"""{"email":"{{email}}","digestEnabled":true}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, """{"timeZone":"Europe/Berlin","digestFrequency":"Weekly"}""")).StatusCode);

        var after = await SettingsAsync(user);
        Assert.Equal(email, after.GetProperty("email").GetString());
        Assert.Equal("Europe/Berlin", after.GetProperty("timeZone").GetString());
        Assert.True(after.GetProperty("digestEnabled").GetBoolean());
        Assert.Equal("weekly", after.GetProperty("digestFrequency").GetString());

        // Opting out keeps the rest; the email stays private (not on the public profile).
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, """{"digestEnabled":false}""")).StatusCode);
        var optedOut = await SettingsAsync(user);
        Assert.False(optedOut.GetProperty("digestEnabled").GetBoolean());
        Assert.Equal("weekly", optedOut.GetProperty("digestFrequency").GetString());
        var profile = await user.Client.GetStringAsync($"/v1/users/{user.Id}");
        Assert.DoesNotContain(email, profile);
        Assert.DoesNotContain("email", profile);
    }

    [Fact]
    public async Task Email_can_be_given_at_sign_up_and_removed_while_digests_are_off()
    {
        var email = NewEmail();
        var handle = $"su_{Guid.NewGuid():N}"[..20];
        var created = await app.CreateClient().PostAsJsonAsync("/v1/users", new { handle, email });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = long.Parse((await created.Content.ReadFromJsonAsync<UserDto>())!.Id);
        Assert.Equal(email, await app.ScalarAsync<string>("SELECT email FROM users WHERE id = $1", id));

        var user = await app.CreateUserAsync("remove");
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, $$"""{"email":"{{email}}"}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, """{"email":""}""")).StatusCode);
        Assert.Equal(JsonValueKind.Null, (await SettingsAsync(user)).GetProperty("email").ValueKind);
    }

    [Theory]
    [InlineData("""{"email":"not-an-email"}""", "email")]
    [InlineData("""{"email":"a@localhost"}""", "email")]
    [InlineData("""{"email":"Bob <bob@example.com>"}""", "email")]
    [InlineData("""{"email":"bob smith@example.com"}""", "email")]
    [InlineData("""{"email":"a@b@example.com"}""", "email")]
    [InlineData("""{"email":"bob@example..com"}""", "email")]
    [InlineData("""{"email":"bob@example.com\r\nBcc: eve@example.com"}""", "email")]
    [InlineData("""{"timeZone":"Mars/Olympus_Mons"}""", "timeZone")]
    [InlineData("""{"timeZone":"europe/berlin"}""", "timeZone")]
    [InlineData("""{"timeZone":"Eastern Standard Time"}""", "timeZone")]
    [InlineData("""{"timeZone":"localtime"}""", "timeZone")]
    [InlineData("""{"timeZone":"../../../etc/passwd"}""", "timeZone")]
    [InlineData("""{"timeZone":"right/UTC"}""", "timeZone")]
    [InlineData("""{"timeZone":""}""", "timeZone")]
    [InlineData("""{"digestFrequency":"hourly"}""", "digestFrequency")]
    [InlineData("""{"digestFrequency":""}""", "digestFrequency")]
    [InlineData("""{"digestEnabled":true}""", "digestEnabled")]
    [InlineData("""{"timeZone":"Europe/Berlin","email":"nope"}""", "email")]
    [InlineData("""{"timeZone":"Europe/Berlin","digestFrequency":"weekly","digestEnabled":true}""", "digestEnabled")]
    [InlineData("""{"digestEnabled":"yes"}""", "could not be converted")]
    [InlineData("""{"email":5}""", "could not be converted")]
    [InlineData("""{"timeZone":""", "Failed to read")]
    public async Task Bad_settings_are_400_naming_the_field_and_write_nothing(string json, string expected)
    {
        var user = await app.CreateUserAsync("badset");
        var before = await RowAsync(user.Id);

        var problem = await (await PatchAsync(user, json)).AssertProblemAsync(HttpStatusCode.BadRequest);

        if (expected is "email" or "timeZone" or "digestFrequency" or "digestEnabled")
        {
            Assert.True(problem.GetProperty("errors").TryGetProperty(expected, out _), problem.ToString());
        }
        else
        {
            Assert.Contains(expected, problem.ToString());
        }
        Assert.Equal(before, await RowAsync(user.Id));
    }

    [Fact]
    public async Task Removing_the_email_while_digests_are_on_is_refused()
    {
        var user = await app.CreateUserAsync("keepmail");
        var email = NewEmail();
        Assert.Equal(HttpStatusCode.OK, (await PatchAsync(user, $$"""{"email":"{{email}}","digestEnabled":true}""")).StatusCode);

        var problem = await (await PatchAsync(user, """{"email":""}""")).AssertProblemAsync(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty("digestEnabled", out _));
        Assert.Equal(email, await app.ScalarAsync<string>("SELECT email FROM users WHERE id = $1", user.Id));
    }

    [Fact]
    public async Task Bad_email_at_sign_up_is_400_and_creates_no_user()
    {
        var before = await app.ScalarAsync<long>("SELECT count(*) FROM users");
        var response = await app.CreateClient().PostAsJsonAsync("/v1/users", new { handle = $"be_{Guid.NewGuid():N}"[..20], email = "nope@" });
        var problem = await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("email", out _));
        Assert.Equal(before, await app.ScalarAsync<long>("SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task Settings_need_a_token()
    {
        var anonymous = app.CreateClient();
        await (await anonymous.GetAsync(Url)).AssertProblemAsync(HttpStatusCode.Unauthorized);
        await (await anonymous.PatchAsync(Url, new StringContent("{}", Encoding.UTF8, "application/json"))).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    private static string NewEmail() => $"settings-{Guid.NewGuid():N}@example.test";

    private static Task<HttpResponseMessage> PatchAsync(TestUser user, string json) =>
        user.Client.PatchAsync(Url, new StringContent(json, Encoding.UTF8, "application/json"));

    private static async Task<JsonElement> SettingsAsync(TestUser user) => await user.Client.GetFromJsonAsync<JsonElement>(Url);

    private async Task<string> RowAsync(long userId) =>
        await app.ScalarAsync<string>(
            "SELECT concat_ws('|', email, time_zone, digest_enabled, digest_frequency) FROM users WHERE id = $1", userId);
}
