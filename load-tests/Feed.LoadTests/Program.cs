using Feed.LoadTests.Cli;
using Feed.LoadTests.Scenarios;
using Feed.LoadTests.Seeding;
using Feed.LoadTests.Targets;
using Npgsql;
using StackExchange.Redis;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};

try
{
    var cl = CommandLine.Parse(args);
    if (cl.Command == "help" || cl.Flag("help"))
    {
        Console.WriteLine(HelpText.For(cl.Command));
        return 0;
    }
    switch (cl.Command)
    {
        case "seed":
            var seed = SeedSettings.From(cl);
            cl.RejectUnknown();
            await Seeder.RunAsync(seed, Console.Out, cancel.Token);
            return 0;
        case "run":
            var run = RunSettings.From(cl);
            cl.RejectUnknown();
            await ScenarioSession.RunAsync(run, string.Join(' ', ["Feed.LoadTests", .. args]), Console.Out, cancel.Token);
            return 0;
        case "targets":
            var targets = TargetSettings.From(cl);
            cl.RejectUnknown();
            await TargetSession.RunAsync(targets, string.Join(' ', ["Feed.LoadTests", .. args]), Console.Out, cancel.Token);
            return 0;
        default:
            throw new UsageException($"Unknown command '{cl.Command}': use seed, run or targets.");
    }
}
catch (UsageException ex)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    Console.Error.WriteLine("Run with --help for the options.");
    return 2;
}
catch (OperationCanceledException) when (cancel.IsCancellationRequested)
{
    Console.Error.WriteLine("Cancelled.");
    return 130;
}
catch (Exception ex) when (ex is InvalidOperationException or NpgsqlException or RedisException)
{
    Console.Error.WriteLine($"error: {ex.Message}");
    return 1;
}
