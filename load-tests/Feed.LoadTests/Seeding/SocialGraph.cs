using Feed.LoadTests.Driver;

namespace Feed.LoadTests.Seeding;

/// <summary>
/// Who follows whom, by user index (0..<see cref="UserCount"/>-1), in compressed rows: the
/// accounts user <c>u</c> follows are <c>Followees[Offsets[u]..Offsets[u + 1]]</c>.
/// </summary>
public sealed class SocialGraph
{
    public SocialGraph(int[] offsets, int[] followees, int[] celebrities)
    {
        Offsets = offsets;
        Followees = followees;
        Celebrities = celebrities;
        FollowerCounts = new int[UserCount];
        foreach (var followee in followees)
        {
            FollowerCounts[followee]++;
        }
        IsCelebrity = new bool[UserCount];
        foreach (var celebrity in celebrities)
        {
            IsCelebrity[celebrity] = true;
        }
    }

    public int UserCount => Offsets.Length - 1;

    public int[] Offsets { get; }

    public int[] Followees { get; }

    /// <summary>Celebrity user indices, most followed first.</summary>
    public int[] Celebrities { get; }

    public bool[] IsCelebrity { get; }

    public int[] FollowerCounts { get; }

    public long EdgeCount => Followees.Length;

    public int FollowingCount(int user) => Offsets[user + 1] - Offsets[user];

    public ReadOnlySpan<int> FolloweesOf(int user) => Followees.AsSpan(Offsets[user], FollowingCount(user));

    public string Describe()
    {
        var following = Enumerable.Range(0, UserCount).Select(FollowingCount).Order().ToArray();
        var followers = Enumerable.Range(0, UserCount).Where(u => !IsCelebrity[u]).Select(u => FollowerCounts[u]).Order().ToArray();
        static string Spread(int[] sorted) => sorted.Length == 0
            ? "–"
            : $"median {Format.Count(sorted[sorted.Length / 2])}, p90 {Format.Count(sorted[(int)(sorted.Length * 0.9)])}, p99 {Format.Count(sorted[(int)(sorted.Length * 0.99)])}, max {Format.Count(sorted[^1])}";
        return $"""
              {Format.Count(UserCount)} users, {Format.Count(EdgeCount)} follows
              following per user:        {Spread(following)}
              followers per ordinary user: {Spread(followers)}
              celebrities' followers:    {(Celebrities.Length == 0 ? "none" : string.Join(", ", Celebrities.Select(c => Format.Count(FollowerCounts[c]))))}
            """;
    }
}
