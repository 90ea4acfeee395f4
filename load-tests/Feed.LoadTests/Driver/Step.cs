namespace Feed.LoadTests.Driver;

/// <summary>
/// One kind of request in a scenario (NBomber's step): the name it is reported under and what it
/// does. A step fails by throwing; the runner turns the exception into an error reason.
/// </summary>
public sealed record Step(string Name, Func<CancellationToken, Task> Execute);
