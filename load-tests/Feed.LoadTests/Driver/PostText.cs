using System.Text;

namespace Feed.LoadTests.Driver;

/// <summary>Plausible post bodies: a few words to a few sentences, well under the 500-character limit.</summary>
public static class PostText
{
    private static readonly string[] Words =
    [
        "the", "a", "today", "finally", "coffee", "release", "shipping", "weekend", "train", "late", "again", "new",
        "feed", "build", "tests", "green", "red", "deploy", "friday", "rain", "sun", "walk", "reading", "book",
        "music", "concert", "tickets", "pizza", "lunch", "meeting", "moved", "team", "launch", "bug", "fixed", "why",
        "does", "this", "always", "happen", "love", "it", "great", "thread", "thoughts", "on", "and", "with", "my",
        "cat", "dog", "garden", "photo", "morning", "night", "city", "trip", "flight", "delayed", "home",
    ];

    /// <param name="random">Not shared across threads unless thread-safe (e.g. <see cref="Random.Shared"/>).</param>
    public static string Next(Random random)
    {
        var words = random.Next(6, 40);
        var text = new StringBuilder(words * 7);
        for (var i = 0; i < words; i++)
        {
            if (i > 0)
            {
                text.Append(' ');
            }
            text.Append(Words[random.Next(Words.Length)]);
        }
        return text.Append('.').ToString();
    }
}
