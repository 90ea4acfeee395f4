using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Npgsql;
using NpgsqlTypes;

namespace Feed.Webhooks;

/// <summary>The event types partners can subscribe to.</summary>
public static class WebhookEventTypes
{
    public const string PostCreated = "post.created";
    public const string PostDeleted = "post.deleted";
    public const string UserFollowed = "user.followed";
    public const string UserUnfollowed = "user.unfollowed";
    public const string DigestSent = "digest.sent";

    /// <summary>Sent only by <c>POST …/subscriptions/{id}/test</c>, to that endpoint; never subscribed to.</summary>
    public const string Test = "webhook.test";

    public static readonly IReadOnlyList<string> Subscribable = [PostCreated, PostDeleted, UserFollowed, UserUnfollowed, DigestSent];
}

/// <summary>
/// Records an event and one delivery per enabled subscription to its type — inside the caller's
/// transaction, so the event exists exactly when the change that caused it does. With no subscriber
/// nothing is written. The caller hands the returned delivery ids to the dispatcher after commit.
/// </summary>
public static class WebhookPublisher
{
    private const string PublishSql = """
        WITH subs AS (
            SELECT id FROM webhook_subscriptions WHERE enabled AND event_types @> ARRAY[$1::text]),
        ev AS (
            INSERT INTO webhook_events (type, payload, created_at)
            SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM subs)
            RETURNING id)
        INSERT INTO webhook_deliveries (event_id, subscription_id, next_attempt_at)
        SELECT ev.id, subs.id, $3 FROM ev CROSS JOIN subs
        RETURNING id
        """;

    private const string PublishToOneSql = """
        WITH ev AS (
            INSERT INTO webhook_events (type, payload, created_at) VALUES ($1, $2, $3) RETURNING id)
        INSERT INTO webhook_deliveries (event_id, subscription_id, next_attempt_at)
        SELECT ev.id, $4, $3 FROM ev
        RETURNING id
        """;

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Publishes to every enabled subscription of <paramref name="type"/>; returns the new delivery ids.</summary>
    public static Task<List<long>> PublishAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, string type, object data, DateTimeOffset now, CancellationToken ct) =>
        RunAsync(connection, tx, PublishSql, type, data, now, null, ct);

    /// <summary>Publishes to one subscription whatever its event types (the test event).</summary>
    public static Task<List<long>> PublishToAsync(
        NpgsqlConnection connection, long subscriptionId, string type, object data, DateTimeOffset now, CancellationToken ct) =>
        RunAsync(connection, null, PublishToOneSql, type, data, now, subscriptionId, ct);

    /// <summary>
    /// The CTEs that publish an event from inside a larger statement, for a write that must stay one
    /// round trip (a new post). The statement needs a CTE <c>p</c> with the new row's <c>id</c>, and
    /// parameters for the type, the body's two halves around that id (<see cref="BodyAround"/>) and the
    /// time; the fragment adds CTEs <c>subs</c>, <c>ev</c> and <c>d</c>, whose <c>id</c>s are the new
    /// deliveries. The same rows as <see cref="PublishAsync"/>: nothing without a subscriber.
    /// </summary>
    public static string InlinePublishCtes(string type, string before, string after, string now) => $"""
        subs AS (
            SELECT id FROM webhook_subscriptions WHERE enabled AND event_types @> ARRAY[{type}::text]),
        ev AS (
            INSERT INTO webhook_events (type, payload, created_at)
            SELECT {type}, {before} || p.id || {after}, {now} FROM p WHERE EXISTS (SELECT 1 FROM subs)
            RETURNING id),
        d AS (
            INSERT INTO webhook_deliveries (event_id, subscription_id, next_attempt_at)
            SELECT ev.id, subs.id, {now} FROM ev CROSS JOIN subs
            RETURNING id)
        """;

    /// <summary>
    /// An event body whose data starts with an <c>id</c> not known yet: the text before the id's value
    /// and the text after it, so that <c>before + id + after</c> is exactly <see cref="Body"/> with
    /// that id. <paramref name="data"/> builds the data from the id, which must be its first property.
    /// </summary>
    public static (string Before, string After) BodyAround(string type, Func<string, object> data, DateTimeOffset now)
    {
        // Only the type and the timestamp come before the data, and neither can hold the marker.
        const string Marker = "\u0001id\u0001";
        var body = Body(type, data(Marker), now);
        var marker = JsonSerializer.Serialize(Marker, Json)[1..^1];
        var at = body.IndexOf(marker, StringComparison.Ordinal);
        return (body[..at], body[(at + marker.Length)..]);
    }

    /// <summary>The body every endpoint receives: <c>{"type","timestamp","data"}</c>.</summary>
    public static string Body(string type, object data, DateTimeOffset now) =>
        JsonSerializer.Serialize(new EventBody(type, now.ToUniversalTime(), data), Json);

    private static async Task<List<long>> RunAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, string type, object data, DateTimeOffset now, long? subscriptionId, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = type });
        cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = Body(type, data, now), NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { TypedValue = now.ToUniversalTime() });
        if (subscriptionId is { } id)
        {
            cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        }
        var ids = new List<long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }

    private sealed record EventBody(string Type, DateTimeOffset Timestamp, object Data);
}

/// <summary>The <c>data</c> of <c>post.created</c> and <c>post.deleted</c> (whose body is null). Ids are strings, as in the API.</summary>
public sealed record PostEventData(string Id, string AuthorId, string? Body, DateTimeOffset CreatedAt)
{
    public static PostEventData From(Posts.Post post) => new(
        post.Id.ToString(CultureInfo.InvariantCulture), post.AuthorId.ToString(CultureInfo.InvariantCulture), post.Body, post.CreatedAt);
}

/// <summary>The <c>data</c> of <c>user.followed</c> and <c>user.unfollowed</c>.</summary>
public sealed record FollowEventData(string FollowerId, string FolloweeId)
{
    public static FollowEventData From(long followerId, long followeeId) => new(
        followerId.ToString(CultureInfo.InvariantCulture), followeeId.ToString(CultureInfo.InvariantCulture));
}

/// <summary>The <c>data</c> of <c>digest.sent</c>: which user's digest for which period, with how many posts shown of how many new.</summary>
public sealed record DigestSentEventData(string DigestId, string UserId, string Period, int PostCount, int TotalCount);
