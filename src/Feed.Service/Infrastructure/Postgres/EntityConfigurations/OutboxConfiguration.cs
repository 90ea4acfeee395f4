using Feed.FanOut;
using Feed.Outbox;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class OutboxConfiguration : IEntityTypeConfiguration<OutboxMessage>
{
    public void Configure(EntityTypeBuilder<OutboxMessage> builder)
    {
        builder.ToTable("outbox");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).UseIdentityAlwaysColumn();
        builder.Property(m => m.Kind).HasConversion<short>();
        builder.Property(m => m.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(m => m.NextAttemptAt).HasDefaultValueSql("now()");
        builder.Property(m => m.Attempts).HasDefaultValue(0);
        builder.Property(m => m.Generation).HasDefaultValue(0);
        // The relay scans only open rows, oldest due first. The second condition (always true) keeps
        // the planner from picking this index for "id = $1 AND completed_at IS NULL": on statistics
        // taken before a burst it looks empty, and every completion then scanned all open rows
        // (docs/performance.md). Queries that want it name next_attempt_at.
        builder.HasIndex(m => m.NextAttemptAt).HasFilter("completed_at IS NULL AND next_attempt_at IS NOT NULL").HasDatabaseName("ix_outbox_open_due");
        builder.HasIndex(m => m.PostId);
        // The outbox sweeper deletes finished rows oldest first.
        builder.HasIndex(m => m.CompletedAt).HasFilter("completed_at IS NOT NULL").HasDatabaseName("ix_outbox_completed_at");
        builder.ToTable(t => t.HasCheckConstraint(
            "ck_outbox_subject",
            "(kind IN (1, 2) AND post_id IS NOT NULL) OR (kind IN (3, 4) AND user_id IS NOT NULL AND target_user_id IS NOT NULL) OR (kind = 5 AND user_id IS NOT NULL)"));
    }
}

internal sealed class FanOutBatchCompletionConfiguration : IEntityTypeConfiguration<FanOutBatchCompletion>
{
    public void Configure(EntityTypeBuilder<FanOutBatchCompletion> builder)
    {
        builder.ToTable("fan_out_batches");
        builder.HasKey(b => new { b.OutboxId, b.Generation, b.BatchIndex });
        builder.Property(b => b.CompletedAt).HasDefaultValueSql("now()");
        builder.HasOne<OutboxMessage>().WithMany().HasForeignKey(b => b.OutboxId).OnDelete(DeleteBehavior.Cascade);
    }
}
