using Npgsql;

namespace Feed.LoadTests.Seeding;

/// <summary>
/// Foreign keys and secondary indexes of the tables being bulk-loaded, dropped before the load and
/// recreated from their own definitions (<c>pg_get_constraintdef</c>, <c>pg_get_indexdef</c>)
/// after it: checking millions of rows one by one and maintaining indexes in random order is far
/// slower than one validation query and one sorted index build. Primary keys and unique
/// constraints stay. Done inside the load's transaction, so a failure restores everything.
/// </summary>
public sealed class DeferredSchema
{
    private const string ForeignKeysSql = """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1)
        """;

    private const string IndexesSql = """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY($1)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
        """;

    private readonly List<(string Table, string Name, string Definition)> _foreignKeys;
    private readonly List<(string Name, string Definition)> _indexes;

    private DeferredSchema(List<(string, string, string)> foreignKeys, List<(string, string)> indexes)
    {
        _foreignKeys = foreignKeys;
        _indexes = indexes;
    }

    public static async Task<DeferredSchema> DropAsync(NpgsqlConnection connection, string[] tables, CancellationToken ct)
    {
        var foreignKeys = new List<(string, string, string)>();
        await using (var cmd = new NpgsqlCommand(ForeignKeysSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                foreignKeys.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            }
        }
        var indexes = new List<(string, string)>();
        await using (var cmd = new NpgsqlCommand(IndexesSql, connection))
        {
            cmd.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = tables });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                indexes.Add((reader.GetString(0), reader.GetString(1)));
            }
        }
        foreach (var (table, name, _) in foreignKeys)
        {
            await ExecuteAsync(connection, $"ALTER TABLE {table} DROP CONSTRAINT {Quote(name)}", ct);
        }
        foreach (var (name, _) in indexes)
        {
            await ExecuteAsync(connection, $"DROP INDEX {name}", ct);
        }
        return new DeferredSchema(foreignKeys, indexes);
    }

    public async Task RestoreAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        foreach (var (_, definition) in _indexes)
        {
            await ExecuteAsync(connection, definition, ct);
        }
        foreach (var (table, name, definition) in _foreignKeys)
        {
            await ExecuteAsync(connection, $"ALTER TABLE {table} ADD CONSTRAINT {Quote(name)} {definition}", ct);
        }
    }

    public string Describe() =>
        $"{_foreignKeys.Count} foreign keys ({string.Join(", ", _foreignKeys.Select(f => f.Name))}) and {_indexes.Count} indexes ({string.Join(", ", _indexes.Select(i => i.Name))})";

    private static string Quote(string identifier) => $"\"{identifier.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        await cmd.ExecuteNonQueryAsync(ct);
    }
}
