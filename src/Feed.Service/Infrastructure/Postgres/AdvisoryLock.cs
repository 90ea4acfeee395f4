using Npgsql;

namespace Feed.Infrastructure.Postgres;

/// <summary>
/// A Postgres session advisory lock, tried once and held on its own connection until disposed: the
/// guard that keeps a maintenance cron from running twice at once (two workers firing the same
/// schedule, or a manual trigger during a scheduled run). The second run skips instead of waiting.
/// </summary>
/// <remarks>
/// The lock belongs to the database session, so a crashed worker's lock is released when its
/// connection drops; a run never outlives its own lock. Names are hashed into the 64-bit lock space
/// under their own seed, apart from the per-pair locks of follow jobs.
/// </remarks>
public sealed class AdvisoryLock : IAsyncDisposable
{
    private const string TryLockSql = "SELECT pg_try_advisory_lock(hashtextextended($1, 1))";
    private const string UnlockSql = "SELECT pg_advisory_unlock(hashtextextended($1, 1))";

    private readonly NpgsqlConnection _connection;
    private readonly string _name;

    private AdvisoryLock(NpgsqlConnection connection, string name)
    {
        _connection = connection;
        _name = name;
    }

    /// <summary>Takes the lock named <paramref name="name"/>, or returns null at once if another session holds it.</summary>
    public static async Task<AdvisoryLock?> TryAcquireAsync(NpgsqlDataSource postgres, string name, CancellationToken ct)
    {
        var connection = await postgres.OpenConnectionAsync(ct);
        try
        {
            await using var tryLock = new NpgsqlCommand(TryLockSql, connection);
            tryLock.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
            if (await tryLock.ExecuteScalarAsync(ct) is true)
            {
                return new AdvisoryLock(connection, name);
            }
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        var released = false;
        try
        {
            await using var unlock = new NpgsqlCommand(UnlockSql, _connection);
            unlock.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _name });
            released = await unlock.ExecuteScalarAsync() is true;
        }
        finally
        {
            if (!released)
            {
                // Pooled sessions are not reset on return (see Extensions), so a session that may
                // still hold the lock must not be reused: the pool closes it instead.
                NpgsqlConnection.ClearPool(_connection);
            }
            await _connection.DisposeAsync();
        }
    }
}
