using Feed.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddApplicationServices();
if (args.Contains("migrate"))
{
    // EF Core logs its probe for a missing history table as an error on a fresh database.
    builder.Logging.AddFilter("Microsoft.EntityFrameworkCore.Database.Command", LogLevel.None);
}

var app = builder.Build();
if (args.Contains("migrate"))
{
    await app.Services.MigrateDatabaseAsync();
    return;
}

app.MapFeedApi();
app.Run();

/// <summary>The entry point; public so functional tests can host the app.</summary>
public partial class Program;
