using Npgsql;
using NpgsqlTypes;

namespace Feed.Webhooks;

/// <summary>
/// Endpoint state changes shared by the delivery job, the partner API and the admin API. Callers
/// hold a transaction and lock the endpoint row first, the order every endpoint change uses.
/// </summary>
internal static class WebhookEndpoints
{
    public const string Gone = "gone";
    public const string Failing = "failing";
    public const string ByPartner = "partner";
    public const string PartnerDisabled = "partner_disabled";

    private const string DisableSql = """
        UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, disabled_at = now(), circuit_open_until = NULL, updated_at = now()
        WHERE id = $1 AND enabled
        """;

    private const string DeadLetterSql = """
        UPDATE webhook_deliveries SET status = 4, completed_at = now(), last_error = $2
        WHERE subscription_id = $1 AND status IN (1, 3)
        """;

    private const string EnableSql = """
        UPDATE webhook_subscriptions SET enabled = true, disabled_reason = NULL, disabled_at = NULL, failing_since = NULL,
            consecutive_failures = 0, circuit_open_until = NULL, updated_at = now()
        WHERE id = $1
        """;

    /// <summary>Disables an endpoint and dead-letters its unfinished deliveries (replayable once it is enabled again).</summary>
    public static async Task DisableAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long subscriptionId, string reason, CancellationToken ct)
    {
        await ExecuteAsync(connection, tx, DisableSql, subscriptionId, reason, ct);
        await ExecuteAsync(connection, tx, DeadLetterSql, subscriptionId, $"The endpoint was disabled ({reason}).", ct);
    }

    /// <summary>Enables an endpoint with a clean slate: no failure streak, circuit closed.</summary>
    public static Task EnableAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long subscriptionId, CancellationToken ct) =>
        ExecuteAsync(connection, tx, EnableSql, subscriptionId, null, ct);

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, long id, string? text, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        cmd.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        if (text is not null)
        {
            cmd.Parameters.Add(new NpgsqlParameter<string> { TypedValue = text, NpgsqlDbType = NpgsqlDbType.Text });
        }
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
