namespace Feed.LoadTests.Seeding;

/// <summary>
/// Generates a follow graph with realistic shape, deterministically from a seed:
/// <list type="bullet">
/// <item>how many accounts each user follows is log-normal around the median, capped;</item>
/// <item>the celebrities get follower counts spread between 110 % of the threshold and
/// min(80 % of all users, 5 × threshold), from distinct random followers;</item>
/// <item>everyone else's follower count is Zipf-like (∝ 1 / rank^exponent over a random ranking),
/// scaled so that the follows add up, and capped at 80 % of the threshold so nobody else is
/// near celebrity status;</item>
/// <item>follows are then wired by matching "wants to follow" slots with "will be followed" slots
/// at random (a configuration model), dropping self-follows and duplicates.</item>
/// </list>
/// Counts are derived from the edges afterwards, so they always match.
/// </summary>
public static class GraphGenerator
{
    /// <summary>σ of the log-normal following count: median 120 gives p90 ≈ 380.</summary>
    private const double FollowingSpread = 0.9;

    private const double OrdinaryCapOfThreshold = 0.8;

    public static SocialGraph Generate(SeedSettings settings, Random random)
    {
        var n = settings.Users;
        var ranking = Enumerable.Range(0, n).ToArray();
        random.Shuffle(ranking);
        var celebrities = ranking[..settings.Celebrities];

        var budget = FollowingBudgets(settings, random);
        var celebrityFollows = FollowCelebrities(settings, celebrities, budget, random);
        var stubs = FollowedSlots(settings, ranking, budget.Sum(b => (long)b), random);
        MatchSlotCounts(budget, ref stubs, random);

        var offsets = new int[n + 1];
        var followees = new int[celebrityFollows.Sum(c => c.Count) + stubs.Length];
        var lastFollowedBy = new int[n];
        Array.Fill(lastFollowedBy, -1);
        var edges = 0;
        var next = 0;
        for (var u = 0; u < n; u++)
        {
            offsets[u] = edges;
            foreach (var celebrity in celebrityFollows[u])
            {
                followees[edges++] = celebrity;
            }
            for (var k = 0; k < budget[u]; k++)
            {
                var v = stubs[next++];
                if (v != u && lastFollowedBy[v] != u)
                {
                    lastFollowedBy[v] = u;
                    followees[edges++] = v;
                }
            }
        }
        offsets[n] = edges;
        Array.Resize(ref followees, edges);
        return new SocialGraph(offsets, followees, celebrities);
    }

    private static int[] FollowingBudgets(SeedSettings settings, Random random)
    {
        var max = Math.Min(settings.FollowingMax, settings.Users - 1);
        var budget = new int[settings.Users];
        for (var u = 0; u < budget.Length; u++)
        {
            var logNormal = settings.FollowingMedian * Math.Exp(FollowingSpread * StandardNormal(random));
            budget[u] = (int)Math.Clamp(Math.Round(logNormal), 1, max);
        }
        return budget;
    }

    /// <summary>Picks each celebrity's followers; every such follow uses up one of the follower's budget.</summary>
    /// <returns>Per user, the celebrities they follow.</returns>
    private static List<int>[] FollowCelebrities(SeedSettings settings, int[] celebrities, int[] budget, Random random)
    {
        var n = settings.Users;
        var follows = new List<int>[n];
        for (var u = 0; u < n; u++)
        {
            follows[u] = [];
        }
        var least = Math.Min(n - 1, (int)Math.Ceiling(settings.CelebrityThreshold * 1.1));
        var most = Math.Clamp((int)Math.Min(0.8 * (n - 1), 5.0 * settings.CelebrityThreshold), least, n - 1);
        var pool = Enumerable.Range(0, n).ToArray();
        for (var i = 0; i < celebrities.Length; i++)
        {
            var celebrity = celebrities[i];
            var target = celebrities.Length == 1 ? most : most - (int)((long)(most - least) * i / (celebrities.Length - 1));
            // Partial Fisher-Yates: the first target + 1 entries become a random sample; skip the celebrity itself.
            var taken = 0;
            for (var k = 0; taken < target; k++)
            {
                var j = random.Next(k, n);
                (pool[k], pool[j]) = (pool[j], pool[k]);
                if (pool[k] == celebrity)
                {
                    continue;
                }
                follows[pool[k]].Add(celebrity);
                budget[pool[k]] = Math.Max(0, budget[pool[k]] - 1);
                taken++;
            }
        }
        return follows;
    }

    /// <summary>
    /// The "will be followed" slots of ordinary users, shuffled: the user at rank r (after the
    /// celebrities) appears about <c>scale / r^exponent</c> times, capped, with the scale found by
    /// bisection so that the slots add up to the follows users want to make.
    /// </summary>
    private static int[] FollowedSlots(SeedSettings settings, int[] ranking, long wanted, Random random)
    {
        var ordinary = ranking.Length - settings.Celebrities;
        var cap = Math.Min(ranking.Length - 1, Math.Max(1, (int)(settings.CelebrityThreshold * OrdinaryCapOfThreshold) - 1));
        var weights = new double[ordinary];
        for (var r = 0; r < ordinary; r++)
        {
            weights[r] = Math.Pow(r + 1, -settings.ZipfExponent);
        }
        long Total(double scale) => weights.Sum(w => (long)Math.Round(Math.Min(cap, scale * w)));

        var (low, high) = (0.0, (double)wanted / weights[^1]);
        for (var i = 0; i < 100 && high - low > 1e-6 * high; i++)
        {
            var mid = (low + high) / 2;
            (low, high) = Total(mid) < wanted ? (mid, high) : (low, mid);
        }
        var slots = new int[Total(high)];
        var at = 0;
        for (var r = 0; r < ordinary; r++)
        {
            var count = (int)Math.Round(Math.Min(cap, high * weights[r]));
            Array.Fill(slots, ranking[settings.Celebrities + r], at, count);
            at += count;
        }
        random.Shuffle(slots);
        return slots;
    }

    /// <summary>
    /// Makes "wants to follow" and "will be followed" slots equal in number by dropping random ones
    /// from the larger side (the followed slots are shuffled, so dropping their tail is random).
    /// </summary>
    private static void MatchSlotCounts(int[] budget, ref int[] followedSlots, Random random)
    {
        var wanted = budget.Sum(b => (long)b);
        if (followedSlots.Length > wanted)
        {
            Array.Resize(ref followedSlots, (int)wanted);
            return;
        }
        var surplus = wanted - followedSlots.Length;
        if (surplus == 0)
        {
            return;
        }
        var owners = new int[wanted];
        var at = 0;
        for (var u = 0; u < budget.Length; u++)
        {
            Array.Fill(owners, u, at, budget[u]);
            at += budget[u];
        }
        random.Shuffle(owners);
        foreach (var owner in owners.AsSpan(0, (int)surplus))
        {
            budget[owner]--;
        }
    }

    private static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
