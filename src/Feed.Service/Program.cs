using Feed.Extensions;

var builder = WebApplication.CreateBuilder(args);
builder.AddApplicationServices();

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
