using BenchmarkDotNet.Running;

// Micro-benchmarks of the feed read's hot paths, in process (no Redis, no Postgres):
//   dotnet run -c Release --project load-tests/Feed.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Feed.Benchmarks.FeedReadBenchmarks).Assembly).Run(args);
