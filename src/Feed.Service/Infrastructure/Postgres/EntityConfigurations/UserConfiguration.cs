using Feed.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class UserConfiguration : IEntityTypeConfiguration<User>
{
    public void Configure(EntityTypeBuilder<User> builder)
    {
        builder.ToTable("users");
        builder.HasKey(u => u.Id);
        builder.Property(u => u.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(u => u.Handle).HasMaxLength(30);
        builder.Property(u => u.HandleNormalized).HasMaxLength(30);
        builder.HasIndex(u => u.HandleNormalized).IsUnique();
        builder.Property(u => u.DisplayName).HasMaxLength(100);
        builder.Property(u => u.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(u => u.LastFeedReadAt).HasDefaultValueSql("now()");
        builder.Property(u => u.FollowerCount).HasDefaultValue(0);
        builder.Property(u => u.FollowingCount).HasDefaultValue(0);
        builder.Property(u => u.IsCelebrity).HasDefaultValue(false);
        builder.Property(u => u.MergeTimeline).HasDefaultValue(false);
    }
}
