using Feed.Digests;
using Feed.FanOut;
using Feed.Follows;
using Feed.Outbox;
using Feed.Posts;
using Feed.Users;
using Feed.Webhooks;
using Microsoft.EntityFrameworkCore;

namespace Feed.Infrastructure.Postgres;

/// <summary>The source of truth. Everything in Redis can be rebuilt from what this context stores.</summary>
public sealed class FeedDbContext(DbContextOptions<FeedDbContext> options) : DbContext(options)
{
    /// <summary>SQL that yields a new time-ordered id; the default of every id column.</summary>
    public const string NextIdSql = "feed_next_id()";

    /// <summary>Milliseconds since the Unix epoch at which <c>feed_next_id()</c> counts from (2025-01-01 UTC).</summary>
    private const long IdEpochMilliseconds = 1_735_689_600_000;

    /// <summary>
    /// The smallest id <c>feed_next_id()</c> can issue at or after <paramref name="at"/> (by the
    /// database's clock): <c>id &gt;= FirstIdAt(t)</c> holds for every row created at or after t, so
    /// a time range becomes an index range on the id.
    /// </summary>
    public static long FirstIdAt(DateTimeOffset at) =>
        Math.Max(0, at.ToUnixTimeMilliseconds() - IdEpochMilliseconds) << 12;

    public DbSet<User> Users => Set<User>();

    public DbSet<Follow> Follows => Set<Follow>();

    public DbSet<Post> Posts => Set<Post>();

    public DbSet<IdempotencyRecord> IdempotencyRecords => Set<IdempotencyRecord>();

    public DbSet<OutboxMessage> Outbox => Set<OutboxMessage>();

    public DbSet<FanOutBatchCompletion> FanOutBatches => Set<FanOutBatchCompletion>();

    public DbSet<Partner> Partners => Set<Partner>();

    public DbSet<WebhookSubscription> WebhookSubscriptions => Set<WebhookSubscription>();

    public DbSet<WebhookEvent> WebhookEvents => Set<WebhookEvent>();

    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();

    public DbSet<WebhookAttempt> WebhookAttempts => Set<WebhookAttempt>();
    public DbSet<Digest> Digests => Set<Digest>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(FeedDbContext).Assembly);
}
