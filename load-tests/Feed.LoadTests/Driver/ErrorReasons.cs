namespace Feed.LoadTests.Driver;

/// <summary>Short, groupable reasons for failed requests (the report counts requests per reason).</summary>
public static class ErrorReasons
{
    public static string Describe(Exception ex) => ex switch
    {
        ApiException api => $"HTTP {(int)api.Status}",
        TaskCanceledException { InnerException: TimeoutException } => "timeout",
        OperationCanceledException => "cancelled",
        HttpRequestException http => $"connection: {http.HttpRequestError}",
        InvalidOperationException driver => $"driver: {driver.Message}",
        _ => ex.GetType().Name,
    };
}
