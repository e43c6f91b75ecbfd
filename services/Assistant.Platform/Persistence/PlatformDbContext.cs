using Microsoft.EntityFrameworkCore;

namespace Assistant.Platform.Persistence;

/// <summary>The system of record: everything the platform knows lives here (Redis and S3 hold signals and bytes).</summary>
public sealed class PlatformDbContext(DbContextOptions<PlatformDbContext> options) : DbContext(options)
{
    public DbSet<Worker> Workers => Set<Worker>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Worker>(worker =>
        {
            worker.ToTable("workers");
            worker.HasKey(w => w.Id);
            worker.Property(w => w.Id).HasColumnName("id").HasMaxLength(128);
            worker.Property(w => w.Hostname).HasColumnName("hostname").HasMaxLength(255);
            worker.Property(w => w.ProcessId).HasColumnName("process_id");
            worker.Property(w => w.PlatformVersion).HasColumnName("platform_version").HasMaxLength(128);
            worker.Property(w => w.Device).HasColumnName("device").HasMaxLength(64);
            worker.Property(w => w.State).HasColumnName("state").HasConversion<string>().HasMaxLength(32);
            worker.Property(w => w.RegisteredAt).HasColumnName("registered_at");
            worker.Property(w => w.LastHeartbeatAt).HasColumnName("last_heartbeat_at");
            worker.HasIndex(w => w.LastHeartbeatAt);
        });
    }
}
