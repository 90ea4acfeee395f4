using Feed.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Feed.Infrastructure.Postgres.EntityConfigurations;

internal sealed class PartnerConfiguration : IEntityTypeConfiguration<Partner>
{
    public void Configure(EntityTypeBuilder<Partner> builder)
    {
        builder.ToTable("partners");
        builder.HasKey(p => p.Id);
        builder.Property(p => p.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(p => p.Name).HasMaxLength(100);
        builder.Property(p => p.ApiKeyPrefix).HasMaxLength(16);
        builder.HasIndex(p => p.ApiKeyHash).IsUnique();
        builder.Property(p => p.CreatedAt).HasDefaultValueSql("now()");
    }
}

internal sealed class WebhookSubscriptionConfiguration : IEntityTypeConfiguration<WebhookSubscription>
{
    public void Configure(EntityTypeBuilder<WebhookSubscription> builder)
    {
        builder.ToTable("webhook_subscriptions");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(s => s.Url).HasMaxLength(2048);
        builder.Property(s => s.Description).HasMaxLength(500);
        builder.Property(s => s.DisabledReason).HasMaxLength(20);
        builder.Property(s => s.Enabled).HasDefaultValue(true);
        builder.Property(s => s.ConsecutiveFailures).HasDefaultValue(0);
        builder.Property(s => s.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(s => s.UpdatedAt).HasDefaultValueSql("now()");
        builder.HasOne<Partner>().WithMany().HasForeignKey(s => s.PartnerId).OnDelete(DeleteBehavior.Cascade);
        builder.HasIndex(s => new { s.PartnerId, s.Id });
        // Every write looks up the enabled subscriptions of its event type.
        builder.HasIndex(s => s.EventTypes).HasMethod("gin").HasFilter("enabled").HasDatabaseName("ix_webhook_subscriptions_enabled_event_types");
    }
}

internal sealed class WebhookEventConfiguration : IEntityTypeConfiguration<WebhookEvent>
{
    public void Configure(EntityTypeBuilder<WebhookEvent> builder)
    {
        builder.ToTable("webhook_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(e => e.Type).HasMaxLength(50);
        builder.Property(e => e.CreatedAt).HasDefaultValueSql("now()");
        builder.HasIndex(e => e.CreatedAt);
    }
}

internal sealed class WebhookDeliveryConfiguration : IEntityTypeConfiguration<WebhookDelivery>
{
    public void Configure(EntityTypeBuilder<WebhookDelivery> builder)
    {
        builder.ToTable("webhook_deliveries");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.Id).HasDefaultValueSql(FeedDbContext.NextIdSql).ValueGeneratedOnAdd();
        builder.Property(d => d.Status).HasConversion<short>().HasDefaultValue(DeliveryStatus.Pending).HasSentinel((DeliveryStatus)0);
        builder.Property(d => d.Attempts).HasDefaultValue(0);
        builder.Property(d => d.NextAttemptAt).HasDefaultValueSql("now()");
        builder.Property(d => d.CreatedAt).HasDefaultValueSql("now()");
        builder.Property(d => d.LastError).HasMaxLength(500);
        builder.HasOne<WebhookEvent>().WithMany().HasForeignKey(d => d.EventId).OnDelete(DeleteBehavior.Cascade);
        builder.HasOne<WebhookSubscription>().WithMany().HasForeignKey(d => d.SubscriptionId).OnDelete(DeleteBehavior.Cascade);
        // One delivery per event and endpoint: publishing twice cannot send twice.
        builder.HasIndex(d => new { d.SubscriptionId, d.EventId }).IsUnique();
        builder.HasIndex(d => new { d.SubscriptionId, d.Id });
        // The next due delivery of one endpoint (a worker drains a healthy endpoint).
        builder.HasIndex(d => new { d.SubscriptionId, d.NextAttemptAt }).HasFilter("status IN (1, 3)").HasDatabaseName("ix_webhook_deliveries_endpoint_due");
        // The relay scans only unfinished deliveries, oldest due first.
        builder.HasIndex(d => d.NextAttemptAt).HasFilter("status IN (1, 3)").HasDatabaseName("ix_webhook_deliveries_open_due");
        builder.HasIndex(d => d.EventId);
        // Attempts in flight per endpoint (the concurrency cap); leases are cleared when an attempt is logged, so this stays tiny.
        builder.HasIndex(d => d.SubscriptionId).HasFilter("lease_until IS NOT NULL").HasDatabaseName("ix_webhook_deliveries_leased");
    }
}

internal sealed class WebhookAttemptConfiguration : IEntityTypeConfiguration<WebhookAttempt>
{
    public void Configure(EntityTypeBuilder<WebhookAttempt> builder)
    {
        builder.ToTable("webhook_attempts");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).UseIdentityAlwaysColumn();
        builder.Property(a => a.Error).HasMaxLength(500);
        builder.HasOne<WebhookDelivery>().WithMany().HasForeignKey(a => a.DeliveryId).OnDelete(DeleteBehavior.Cascade);
        builder.HasIndex(a => new { a.DeliveryId, a.Id });
        builder.HasIndex(a => a.StartedAt);
    }
}
