// Placeholder for the load driver (see the performance issue): an open-model HTTP load
// generator on HttpClient with HdrHistogram. It only reports what it would run for now.
Console.WriteLine("Feed load tests: not implemented yet. See docs/performance.md.");
