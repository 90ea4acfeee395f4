using Feed.Follows;
using Feed.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class FollowConfiguration : IEntityTypeConfiguration<Follow>
{
    public void Configure(EntityTypeBuilder<Follow> builder)
    {
        builder.ToTable("follows");
        // (follower, followee) serves "whom do I follow"; the reverse index serves fan-out and "my followers".
        builder.HasKey(f => new { f.FollowerId, f.FolloweeId });
        builder.HasIndex(f => new { f.FolloweeId, f.FollowerId }).IsUnique();
        builder.Property(f => f.CreatedAt).HasDefaultValueSql("now()");
        builder.HasOne<User>().WithMany().HasForeignKey(f => f.FollowerId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<User>().WithMany().HasForeignKey(f => f.FolloweeId).OnDelete(DeleteBehavior.Cascade);
    }
}
