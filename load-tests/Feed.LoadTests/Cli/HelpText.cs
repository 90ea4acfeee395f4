using Feed.LoadTests.Scenarios;
using Feed.LoadTests.Seeding;
using Feed.LoadTests.Targets;

namespace Feed.LoadTests.Cli;

/// <summary>The --help texts.</summary>
public static class HelpText
{
    public static string For(string command) => command switch
    {
        "seed" => SeedSettings.Help,
        "run" => RunSettings.Help,
        "targets" => TargetSettings.Help,
        _ => Overview,
    };

    private static string Overview => """
        Feed.LoadTests: seeds the Feed service's database and load-tests the running service.

        Usage:
          Feed.LoadTests seed [options]                         bulk-load a social graph, then warm feeds
          Feed.LoadTests run --standard [options]               every scenario, one after another
          Feed.LoadTests run --scenario NAME[,NAME] [options]   chosen scenarios
          Feed.LoadTests targets [options]                      the performance targets, each against its baseline
          Feed.LoadTests seed --help | run --help | targets --help   all options with their defaults

        load-tests/run-standard.sh does it all: dependencies, build, service, seed, standard set, stop.
        See load-tests/README.md for what each number means.
        """;
}
