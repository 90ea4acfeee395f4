using Feed.Digests;
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
        builder.Property(u => u.Email).HasMaxLength(UserSettings.MaxEmailLength);
        builder.Property(u => u.TimeZone).HasMaxLength(UserSettings.MaxTimeZoneLength).HasDefaultValue("UTC");
        builder.Property(u => u.DigestEnabled).HasDefaultValue(false);
        builder.Property(u => u.DigestFrequency).HasConversion<short>().HasDefaultValue(DigestFrequency.Daily).HasSentinel((DigestFrequency)0);
        // The digest scheduler walks opted-in users one time zone and frequency at a time, in id order.
        builder.HasIndex(u => new { u.TimeZone, u.DigestFrequency, u.Id })
            .HasFilter("digest_enabled AND email IS NOT NULL")
            .HasDatabaseName("ix_users_digest_schedule");
    }
}
