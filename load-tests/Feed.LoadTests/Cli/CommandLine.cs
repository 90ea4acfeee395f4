using System.Globalization;

namespace Feed.LoadTests.Cli;

/// <summary>
/// A command word followed by options: <c>--name value</c>, <c>--name=value</c> or a bare
/// <c>--flag</c>. Every option read is remembered, so options nobody asked for can be reported
/// as mistakes instead of being silently ignored.
/// </summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _options;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    private CommandLine(string command, Dictionary<string, string?> options)
    {
        Command = command;
        _options = options;
    }

    /// <summary>The first argument (<c>seed</c>, <c>run</c>, <c>help</c>); <c>help</c> when there is none.</summary>
    public string Command { get; }

    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var hasCommand = args.Count > 0 && !args[0].StartsWith("--", StringComparison.Ordinal);
        var command = hasCommand ? args[0] : "help";
        var options = new Dictionary<string, string?>(StringComparer.Ordinal);
        for (var i = hasCommand ? 1 : 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal) || arg.Length == 2)
            {
                throw new UsageException($"Unexpected argument '{arg}': options look like --name value.");
            }
            var name = arg[2..];
            string? value = null;
            var equals = name.IndexOf('=', StringComparison.Ordinal);
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            else if (i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                value = args[++i];
            }
            if (!options.TryAdd(name, value))
            {
                throw new UsageException($"Option --{name} is given twice.");
            }
        }
        return new CommandLine(command, options);
    }

    public bool Flag(string name)
    {
        if (!_options.TryGetValue(name, out var value))
        {
            return false;
        }
        _consumed.Add(name);
        return value is null ? true : throw new UsageException($"--{name} is a switch and takes no value (got '{value}').");
    }

    public string String(string name, string defaultValue) => Raw(name) ?? defaultValue;

    public int Int(string name, int defaultValue, int min, int max)
    {
        var raw = Raw(name);
        if (raw is null)
        {
            return defaultValue;
        }
        if (!int.TryParse(raw.Replace("_", "", StringComparison.Ordinal), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            || value < min || value > max)
        {
            throw new UsageException($"--{name} must be a whole number from {min} to {max}, not '{raw}'.");
        }
        return value;
    }

    public double Double(string name, double defaultValue, double min, double max)
    {
        var raw = Raw(name);
        if (raw is null)
        {
            return defaultValue;
        }
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new UsageException($"--{name} must be a number from {min} to {max}, not '{raw}'.");
        }
        return value;
    }

    /// <summary>A duration: <c>30</c> or <c>30s</c> (seconds), <c>500ms</c>, <c>2m</c>.</summary>
    public TimeSpan Duration(string name, TimeSpan defaultValue, TimeSpan min, TimeSpan max)
    {
        var raw = Raw(name);
        if (raw is null)
        {
            return defaultValue;
        }
        var (number, unit) = raw switch
        {
            _ when raw.EndsWith("ms", StringComparison.Ordinal) => (raw[..^2], TimeSpan.FromMilliseconds(1)),
            _ when raw.EndsWith('s') => (raw[..^1], TimeSpan.FromSeconds(1)),
            _ when raw.EndsWith('m') => (raw[..^1], TimeSpan.FromMinutes(1)),
            _ => (raw, TimeSpan.FromSeconds(1)),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var count)
            || unit * count is var value && (value < min || value > max))
        {
            throw new UsageException($"--{name} must be a duration from {min.TotalSeconds:0.###} s to {max.TotalSeconds:0.###} s (e.g. 30s, 500ms, 2m), not '{raw}'.");
        }
        return value;
    }

    /// <summary>Throws when an option was given that no setting read.</summary>
    public void RejectUnknown()
    {
        var unknown = _options.Keys.Where(k => !_consumed.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"Unknown option{(unknown.Count > 1 ? "s" : "")} for '{Command}': {string.Join(", ", unknown.Select(u => "--" + u))}.");
        }
    }

    private string? Raw(string name)
    {
        if (!_options.TryGetValue(name, out var value))
        {
            return null;
        }
        _consumed.Add(name);
        return value ?? throw new UsageException($"--{name} needs a value.");
    }
}

/// <summary>A mistake on the command line; the message is shown with a pointer to --help.</summary>
public sealed class UsageException(string message) : Exception(message);
