using System.Diagnostics;
using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Scenarios;

/// <summary>The "post" step shared by the write scenarios: a post by a chosen author, then its fan-out followed by the probe.</summary>
public static class PostStep
{
    /// <param name="pickAuthor">Chooses the author of each post; must be thread-safe.</param>
    /// <param name="accepted">Called with the author after each 201, before the probe sees it.</param>
    public static Step Create(ScenarioContext context, Func<long> pickAuthor, FanOutLagProbe probe, Action<long>? accepted = null) =>
        new("post", async ct =>
        {
            var author = pickAuthor();
            var postId = await context.Api.CreatePostAsync(context.Tokens.For(author), PostText.Next(Random.Shared), ct);
            var acceptedAt = Stopwatch.GetTimestamp();
            accepted?.Invoke(author);
            probe.Track(author, postId, acceptedAt);
        });
}
