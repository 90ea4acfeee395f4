namespace Feed.Follows;

/// <summary>A follower → followee edge. Indexed in both directions for keyset scans.</summary>
public sealed class Follow
{
    public long FollowerId { get; set; }

    public long FolloweeId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
