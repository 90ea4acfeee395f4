using Feed.Posts;
using Feed.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class PostConfiguration : IEntityTypeConfiguration<Post>
{
    public void Configure(EntityTypeBuilder<Post> builder)
    {
        builder.ToTable("posts");
        builder.HasKey(p => p.Id);
        builder.Property(p => p.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(p => p.Body).HasMaxLength(4000);
        builder.Property(p => p.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(p => p.Delivery).HasConversion<short>().HasDefaultValue(PostDelivery.Pending).HasSentinel(PostDelivery.Pending);
        // An author's live posts, newest first: author timelines, feed rebuilds, GET /users/{id}/posts.
        builder.HasIndex(p => new { p.AuthorId, p.Id })
            .IsDescending(false, true)
            .HasFilter("deleted_at IS NULL")
            .HasDatabaseName("ix_posts_author_id_id_live");
        builder.HasOne<User>().WithMany().HasForeignKey(p => p.AuthorId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class IdempotencyRecordConfiguration : IEntityTypeConfiguration<IdempotencyRecord>
{
    public void Configure(EntityTypeBuilder<IdempotencyRecord> builder)
    {
        builder.ToTable("idempotency_keys");
        builder.HasKey(r => new { r.UserId, r.Key });
        builder.Property(r => r.Key).HasMaxLength(255);
        builder.Property(r => r.RequestHash).HasMaxLength(64);
        builder.Property(r => r.CreatedAt).HasDefaultValueSql("now()");
        builder.HasIndex(r => r.CreatedAt);
    }
}
