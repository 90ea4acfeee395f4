using Feed.Digests;
using Feed.Users;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class DigestConfiguration : IEntityTypeConfiguration<Digest>
{
    public void Configure(EntityTypeBuilder<Digest> builder)
    {
        builder.ToTable("digests");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.Id).UseIdentityAlwaysColumn();
        builder.Property(d => d.Period).HasMaxLength(10);
        builder.Property(d => d.Status).HasConversion<short>();
        builder.Property(d => d.Attempts).HasDefaultValue(0);
        builder.Property(d => d.PostCount).HasDefaultValue(0);
        builder.Property(d => d.TotalCount).HasDefaultValue(0);
        builder.Property(d => d.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(d => d.LastError).HasMaxLength(500);
        // One digest per user and period: the claim that makes a second run, or a second worker, send nothing.
        builder.HasIndex(d => new { d.UserId, d.Period }).IsUnique();
        // Retention deletes oldest first.
        builder.HasIndex(d => d.CreatedAt);
        builder.HasOne<User>().WithMany().HasForeignKey(d => d.UserId).OnDelete(DeleteBehavior.Cascade);
        builder.ToTable(t => t.HasCheckConstraint("ck_digests_status", "status BETWEEN 1 AND 5"));
    }
}
