using Assistant.Platform.Datasets;
using Microsoft.EntityFrameworkCore;

namespace Assistant.Platform.Persistence;

/// <summary>The system of record: everything the platform knows lives here (Redis and S3 hold signals and bytes).</summary>
public sealed class PlatformDbContext(DbContextOptions<PlatformDbContext> options) : DbContext(options)
{
    public DbSet<Worker> Workers => Set<Worker>();
    public DbSet<Dataset> Datasets => Set<Dataset>();
    public DbSet<DatasetVersion> DatasetVersions => Set<DatasetVersion>();
    public DbSet<DatasetSplit> DatasetSplits => Set<DatasetSplit>();
    public DbSet<ContentBlob> ContentBlobs => Set<ContentBlob>();
    public DbSet<DatasetVersionUsage> DatasetVersionUsages => Set<DatasetVersionUsage>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Worker>(worker =>
        {
            worker.ToTable("workers");
            worker.HasKey(w => w.Id);
            worker.Property(w => w.Id).HasMaxLength(128);
            worker.Property(w => w.Hostname).HasMaxLength(255);
            worker.Property(w => w.PlatformVersion).HasMaxLength(128);
            worker.Property(w => w.Device).HasMaxLength(64);
            worker.Property(w => w.State).HasConversion<string>().HasMaxLength(32);
            worker.HasIndex(w => w.LastHeartbeatAt);
        });

        modelBuilder.Entity<Dataset>(dataset =>
        {
            dataset.ToTable("datasets");
            dataset.HasKey(d => d.Id);
            dataset.Property(d => d.Name).HasMaxLength(64);
            dataset.HasIndex(d => d.Name).IsUnique();
            dataset.Property(d => d.Description).HasMaxLength(2000);
            dataset.Property(d => d.CreatedBy).HasMaxLength(128);
            dataset.HasMany(d => d.Versions).WithOne(v => v.Dataset).HasForeignKey(v => v.DatasetId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<DatasetVersion>(version =>
        {
            version.ToTable("dataset_versions");
            version.HasKey(v => v.Id);
            version.HasIndex(v => new { v.DatasetId, v.Version }).IsUnique();
            version.Property(v => v.Origin).HasMaxLength(32);
            version.Property(v => v.Message).HasMaxLength(2000);
            version.Property(v => v.Format).HasMaxLength(32);
            version.Property(v => v.Sha256).HasMaxLength(64);
            version.HasIndex(v => v.Sha256);
            version.Property(v => v.Tokenizer).HasMaxLength(64);
            version.Property(v => v.Statistics).HasColumnType("jsonb");
            version.Property(v => v.Derivation).HasColumnType("jsonb");
            version.Property(v => v.SourceFileName).HasMaxLength(255);
            version.Property(v => v.CreatedBy).HasMaxLength(128);
            version.HasMany(v => v.Splits).WithOne(s => s.DatasetVersion).HasForeignKey(s => s.DatasetVersionId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<DatasetSplit>(split =>
        {
            split.ToTable("dataset_splits");
            split.HasKey(s => s.Id);
            split.HasIndex(s => new { s.DatasetVersionId, s.Seed, s.TrainRatio, s.ValidationRatio, s.TestRatio }).IsUnique();
            split.Property(s => s.TrainSha256).HasMaxLength(64);
            split.Property(s => s.ValidationSha256).HasMaxLength(64);
            split.Property(s => s.TestSha256).HasMaxLength(64);
        });

        modelBuilder.Entity<ContentBlob>(blob =>
        {
            blob.ToTable("content_blobs");
            blob.HasKey(b => b.Sha256);
            blob.Property(b => b.Sha256).HasMaxLength(64);
            blob.Property(b => b.ObjectKey).HasMaxLength(512);
        });

        modelBuilder.Entity<DatasetVersionUsage>(usage =>
        {
            usage.ToTable("dataset_version_usages");
            usage.HasKey(u => new { u.DatasetVersionId, u.UsedByKind, u.UsedById });
            usage.Property(u => u.UsedByKind).HasMaxLength(32);
            usage.Property(u => u.UsedById).HasMaxLength(128);
            // Restrict: a version a job reads can never disappear under it.
            usage.HasOne<DatasetVersion>().WithMany().HasForeignKey(u => u.DatasetVersionId).OnDelete(DeleteBehavior.Restrict);
        });
    }
}
