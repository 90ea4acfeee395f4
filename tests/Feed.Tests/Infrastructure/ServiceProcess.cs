using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Feed.Tests.Infrastructure;

/// <summary>
/// The real service as its own OS process (<c>dotnet Feed.Service.dll</c>), configured only by
/// environment variables, as a deployment runs it: it can be killed with SIGKILL like a crashed
/// machine, or stopped with SIGTERM like a rolling restart. Its output is kept for diagnostics.
/// </summary>
public sealed partial class ServiceProcess : IAsyncDisposable
{
    private const int KeptLines = 400;

    /// <summary>Names the test process that started a service process, so that its orphans can be found.</summary>
    private const string OwnerVariable = "FEED_TEST_OWNER_PID";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly Process _process;
    private readonly Queue<string> _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ServiceProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        Id = process.Id;
    }

    public string Name { get; }

    /// <summary>The OS process id.</summary>
    public int Id { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>Where it listens (<c>http://127.0.0.1:port</c>); every role serves health and metrics.</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>The last lines it wrote to stdout and stderr.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return string.Join('\n', _output);
            }
        }
    }

    /// <summary>Starts the service on a free loopback port and waits until <c>/health/live</c> answers.</summary>
    public static async Task<ServiceProcess> StartAsync(string name, IReadOnlyDictionary<string, string> settings)
    {
        var service = new ServiceProcess(name, Launch([], settings.Append(new("ASPNETCORE_URLS", "http://127.0.0.1:0"))));
        service.Capture();
        try
        {
            using var timeout = new CancellationTokenSource(StartTimeout);
            service.BaseAddress = await service._listening.Task.WaitAsync(timeout.Token);
            using var http = new HttpClient { BaseAddress = service.BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
            while (!(await TryGetAsync(http, "/health/live")))
            {
                await Task.Delay(100, timeout.Token);
            }
            return service;
        }
        catch (Exception ex)
        {
            await service.DisposeAsync();
            throw new InvalidOperationException($"{name} did not start ({ex.GetType().Name}). Its output:\n{service.Output}", ex);
        }
    }

    /// <summary>Runs the service as a command (e.g. <c>migrate</c>) to its end.</summary>
    /// <returns>The exit code and everything it wrote.</returns>
    public static async Task<(int ExitCode, string Output)> RunAsync(
        IReadOnlyList<string> args, IReadOnlyDictionary<string, string> settings, TimeSpan timeout)
    {
        var command = new ServiceProcess(string.Join(' ', args), Launch(args, settings));
        await using (command)
        {
            command.Capture();
            using var cancel = new CancellationTokenSource(timeout);
            await command._process.WaitForExitAsync(cancel.Token);
            command._process.WaitForExit(); // until the output streams are read to their end
            return (command._process.ExitCode, command.Output);
        }
    }

    public HttpClient CreateClient() => new() { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>SIGKILL: the process ends at once, mid-job, without any of its shutdown code running.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as an orchestrator stops a container: running jobs get the shutdown timeout.</summary>
    /// <returns>The exit code.</returns>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        using (var signal = Process.Start("kill", ["-TERM", Id.ToString()])!)
        {
            await signal.WaitForExitAsync();
        }
        using var cancel = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancel.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    /// <summary>
    /// Kills service processes that a test process started and did not live to stop (it crashed or
    /// was killed): they would otherwise go on serving, and working on, a deployment's Redis database.
    /// </summary>
    public static void KillOrphans()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }
            string environment;
            try
            {
                environment = File.ReadAllText(Path.Combine(dir, "environ"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            var owner = environment.Split('\0').FirstOrDefault(v => v.StartsWith(OwnerVariable + "=", StringComparison.Ordinal));
            if (owner is not null && int.TryParse(owner[(OwnerVariable.Length + 1)..], out var ownerPid) && !Directory.Exists($"/proc/{ownerPid}"))
            {
                try
                {
                    using var orphan = Process.GetProcessById(pid);
                    orphan.Kill(entireProcessTree: true);
                }
                catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    // Gone meanwhile.
                }
            }
        }
    }

    /// <summary>The built service: its own build output (the test's configuration), else the copy next to the tests.</summary>
    public static string ServiceAssembly()
    {
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var (framework, configuration) = (testBin.Name, testBin.Parent?.Name);
        for (var dir = testBin; dir is not null && configuration is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Feed.Service", "bin", configuration, framework, "Feed.Service.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        var copy = Path.Combine(AppContext.BaseDirectory, "Feed.Service.dll");
        return File.Exists(copy) ? copy : throw new FileNotFoundException("Feed.Service.dll was not found; build Feed.sln first.", copy);
    }

    private static Process Launch(IReadOnlyList<string> args, IEnumerable<KeyValuePair<string, string>> settings)
    {
        var assembly = ServiceAssembly();
        var start = new ProcessStartInfo("dotnet", [assembly, .. args])
        {
            // The content root: appsettings.json sits next to the assembly.
            WorkingDirectory = Path.GetDirectoryName(assembly)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Nothing of the test process's own configuration leaks in (FeedApp sets its settings as
        // environment variables): only what this deployment says.
        foreach (var key in start.Environment.Keys.Where(k => k.Contains("__", StringComparison.Ordinal) || k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k == "DOTNET_ENVIRONMENT").ToList())
        {
            start.Environment.Remove(key);
        }
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Testing";
        start.Environment[OwnerVariable] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        // The start-up line that says which port was bound.
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        foreach (var (key, value) in settings)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }
        return Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start.");
    }

    private void Capture()
    {
        _process.OutputDataReceived += (_, e) => Keep(e.Data);
        _process.ErrorDataReceived += (_, e) => Keep(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _process.EnableRaisingEvents = true;
        _process.Exited += (_, _) => _listening.TrySetException(new InvalidOperationException($"exited with code {_process.ExitCode}"));
    }

    private void Keep(string? line)
    {
        if (line is null)
        {
            return;
        }
        if (ListeningLine().Match(line) is { Success: true } listening)
        {
            _listening.TrySetResult(new Uri(listening.Groups[1].Value));
        }
        lock (_output)
        {
            _output.Enqueue(line);
            if (_output.Count > KeptLines)
            {
                _output.Dequeue();
            }
        }
    }

    private static async Task<bool> TryGetAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path);
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"Now listening on: (http://\S+)")]
    private static partial Regex ListeningLine();
}
