using Assistant.Platform.Alerts;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Security;
using Microsoft.EntityFrameworkCore;

namespace Assistant.Platform.Persistence;

/// <summary>The system of record: everything the platform knows lives here (Redis and S3 hold signals and bytes).</summary>
public sealed class PlatformDbContext(DbContextOptions<PlatformDbContext> options) : DbContext(options)
{
    public DbSet<Worker> Workers => Set<Worker>();
    public DbSet<PlatformSetting> Settings => Set<PlatformSetting>();
    public DbSet<Dataset> Datasets => Set<Dataset>();
    public DbSet<DatasetVersion> DatasetVersions => Set<DatasetVersion>();
    public DbSet<DatasetSplit> DatasetSplits => Set<DatasetSplit>();
    public DbSet<ContentBlob> ContentBlobs => Set<ContentBlob>();
    public DbSet<DatasetVersionUsage> DatasetVersionUsages => Set<DatasetVersionUsage>();
    public DbSet<TrainingJob> Jobs => Set<TrainingJob>();
    public DbSet<JobEvent> JobEvents => Set<JobEvent>();
    public DbSet<JobMetric> JobMetrics => Set<JobMetric>();
    public DbSet<JobCheckpoint> JobCheckpoints => Set<JobCheckpoint>();
    public DbSet<JobGroup> JobGroups => Set<JobGroup>();
    public DbSet<Evaluation> Evaluations => Set<Evaluation>();
    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();
    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();
    public DbSet<ModelAlias> ModelAliases => Set<ModelAlias>();
    public DbSet<AliasMove> AliasMoves => Set<AliasMove>();
    public DbSet<Alert> Alerts => Set<Alert>();
    public DbSet<Webhook> Webhooks => Set<Webhook>();
    public DbSet<WebhookDelivery> WebhookDeliveries => Set<WebhookDelivery>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

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
            worker.Property(w => w.CurrentJobId).HasMaxLength(64);
        });

        modelBuilder.Entity<PlatformSetting>(setting =>
        {
            setting.ToTable("platform_settings");
            setting.HasKey(s => s.Key);
            setting.Property(s => s.Key).HasMaxLength(64);
            setting.Property(s => s.Value).HasColumnType("jsonb");
            setting.Property(s => s.UpdatedBy).HasMaxLength(128);
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

        OnJobsCreating(modelBuilder);
        OnModelsCreating(modelBuilder);
        OnAlertsCreating(modelBuilder);

        modelBuilder.Entity<ApiKey>(key =>
        {
            key.ToTable("api_keys");
            key.HasKey(k => k.Id);
            key.Property(k => k.Name).HasMaxLength(Security.ApiKeys.MaxNameLength);
            key.Property(k => k.Prefix).HasMaxLength(Security.ApiKeys.PrefixLength);
            // Keys are found by the hash of what the caller presents; the key itself is never stored.
            key.HasIndex(k => k.Hash).IsUnique();
        });
    }

    private static void OnJobsCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<TrainingJob>(job =>
        {
            job.ToTable("training_jobs");
            job.HasKey(j => j.Id);
            job.Property(j => j.Id).HasMaxLength(64);
            job.Property(j => j.Status).HasMaxLength(32);
            job.HasIndex(j => new { j.Status, j.CreatedAt });
            job.HasIndex(j => j.CreatedAt);
            job.HasIndex(j => j.GroupId);
            job.Property(j => j.Method).HasMaxLength(32);
            job.Property(j => j.BaseModel).HasMaxLength(200);
            job.Property(j => j.TrainSha256).HasMaxLength(64);
            job.Property(j => j.ValidationSha256).HasMaxLength(64);
            job.Property(j => j.TestSha256).HasMaxLength(64);
            job.Property(j => j.DatasetRefs).HasColumnType("jsonb");
            job.Property(j => j.Hyperparameters).HasColumnType("jsonb");
            job.Property(j => j.Metrics).HasColumnType("jsonb");
            job.Property(j => j.Suffix).HasMaxLength(64);
            job.Property(j => j.WorkerId).HasMaxLength(128);
            job.Property(j => j.ErrorCode).HasMaxLength(64);
            job.Property(j => j.ErrorMessage).HasMaxLength(4000);
            job.Property(j => j.ErrorParam).HasMaxLength(128);
            job.Property(j => j.CreatedBy).HasMaxLength(128);
        });

        modelBuilder.Entity<JobEvent>(e =>
        {
            e.ToTable("job_events");
            e.HasKey(x => x.Id);
            e.HasIndex(x => new { x.JobId, x.Id });
            e.Property(x => x.JobId).HasMaxLength(64);
            e.Property(x => x.Level).HasMaxLength(16);
            e.Property(x => x.Type).HasMaxLength(32);
            e.Property(x => x.Data).HasColumnType("jsonb");
            e.HasOne<TrainingJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<JobMetric>(m =>
        {
            m.ToTable("job_metrics");
            m.HasKey(x => new { x.JobId, x.Key, x.Step });
            m.Property(x => x.JobId).HasMaxLength(64);
            m.Property(x => x.Key).HasMaxLength(64);
            m.HasOne<TrainingJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<JobCheckpoint>(c =>
        {
            c.ToTable("job_checkpoints");
            c.HasKey(x => x.Id);
            c.HasIndex(x => new { x.JobId, x.Step }).IsUnique();
            c.Property(x => x.JobId).HasMaxLength(64);
            c.Property(x => x.ObjectPrefix).HasMaxLength(512);
            c.Property(x => x.Metrics).HasColumnType("jsonb");
            c.HasOne<TrainingJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<JobGroup>(g =>
        {
            g.ToTable("job_groups");
            g.HasKey(x => x.Id);
            g.Property(x => x.Name).HasMaxLength(128);
            g.Property(x => x.Search).HasMaxLength(16);
            g.Property(x => x.Space).HasColumnType("jsonb");
            g.Property(x => x.Objective).HasMaxLength(64);
            g.Property(x => x.CreatedBy).HasMaxLength(128);
        });

        modelBuilder.Entity<Evaluation>(e =>
        {
            e.ToTable("evaluations");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasMaxLength(64);
            e.Property(x => x.JobId).HasMaxLength(64);
            e.HasIndex(x => x.JobId);
            e.Property(x => x.DatasetRef).HasMaxLength(200);
            e.Property(x => x.DatasetSha256).HasMaxLength(64);
            e.Property(x => x.Status).HasMaxLength(32);
            e.Property(x => x.Metrics).HasColumnType("jsonb");
            e.Property(x => x.ErrorMessage).HasMaxLength(4000);
            e.Property(x => x.WorkerId).HasMaxLength(128);
            e.Property(x => x.CreatedBy).HasMaxLength(128);
            e.HasOne<TrainingJob>().WithMany().HasForeignKey(x => x.JobId).OnDelete(DeleteBehavior.Cascade);
        });
    }

    private static void OnModelsCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<RegisteredModel>(model =>
        {
            model.ToTable("registered_models");
            model.HasKey(m => m.Id);
            model.Property(m => m.Name).HasMaxLength(128);
            model.HasIndex(m => m.Name).IsUnique();
            model.Property(m => m.Kind).HasMaxLength(16);
            model.Property(m => m.Description).HasMaxLength(2000);
            model.HasMany(m => m.Versions).WithOne(v => v.Model).HasForeignKey(v => v.ModelId).OnDelete(DeleteBehavior.Cascade);
            model.HasMany(m => m.Aliases).WithOne().HasForeignKey(a => a.ModelId).OnDelete(DeleteBehavior.Cascade);
        });

        modelBuilder.Entity<ModelVersion>(version =>
        {
            version.ToTable("model_versions");
            version.HasKey(v => v.Id);
            version.HasIndex(v => new { v.ModelId, v.Version }).IsUnique();
            // One job-produced version per job: registering twice (deploy after auto-registration) finds the first. The
            // job's checkpoints registered as versions name the job too (lineage), as many as are asked for.
            version.HasIndex(v => v.JobId).IsUnique().HasFilter("source = 'job'");
            version.Property(v => v.Source).HasMaxLength(16);
            version.Property(v => v.JobId).HasMaxLength(64);
            version.Property(v => v.DatasetVersions).HasColumnType("jsonb");
            version.Property(v => v.Hyperparameters).HasColumnType("jsonb");
            version.Property(v => v.Metrics).HasColumnType("jsonb");
            version.Property(v => v.ArtifactPrefix).HasMaxLength(512);
            version.Property(v => v.Architecture).HasMaxLength(64);
            version.Property(v => v.PlatformVersion).HasMaxLength(128);
            version.Property(v => v.Description).HasMaxLength(2000);
            version.Property(v => v.CreatedBy).HasMaxLength(128);
        });

        modelBuilder.Entity<ModelAlias>(alias =>
        {
            alias.ToTable("model_aliases");
            alias.HasKey(a => new { a.ModelId, a.Alias });
            alias.Property(a => a.Alias).HasMaxLength(64);
            alias.HasOne<ModelVersion>().WithMany().HasForeignKey(a => a.VersionId).OnDelete(DeleteBehavior.Restrict);
        });

        modelBuilder.Entity<AliasMove>(move =>
        {
            move.ToTable("alias_moves");
            move.HasKey(m => m.Id);
            move.HasIndex(m => new { m.ModelId, m.Alias, m.MovedAt });
            move.Property(m => m.Alias).HasMaxLength(64);
            move.Property(m => m.MovedBy).HasMaxLength(128);
            move.Property(m => m.Reason).HasMaxLength(2000);
        });
    }

    private static void OnAlertsCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<Alert>(alert =>
        {
            alert.ToTable("alerts");
            alert.HasKey(a => a.Id);
            alert.HasIndex(a => new { a.Kind, a.Subject }).IsUnique();
            alert.HasIndex(a => a.CreatedAt);
            alert.Property(a => a.Kind).HasMaxLength(32);
            alert.Property(a => a.Severity).HasMaxLength(16);
            alert.Property(a => a.JobId).HasMaxLength(64);
            alert.Property(a => a.WorkerId).HasMaxLength(128);
            alert.Property(a => a.Subject).HasMaxLength(200);
            alert.Property(a => a.Message).HasMaxLength(2000);
            alert.Property(a => a.Data).HasColumnType("jsonb");
            alert.Property(a => a.AcknowledgedBy).HasMaxLength(128);
        });

        modelBuilder.Entity<Webhook>(hook =>
        {
            hook.ToTable("webhooks");
            hook.HasKey(h => h.Id);
            hook.Property(h => h.Url).HasMaxLength(2000);
            hook.Property(h => h.Secret).HasMaxLength(256);
        });

        modelBuilder.Entity<WebhookDelivery>(delivery =>
        {
            delivery.ToTable("webhook_deliveries");
            delivery.HasKey(d => d.Id);
            delivery.HasIndex(d => new { d.Status, d.NextAttemptAt });
            delivery.Property(d => d.Status).HasMaxLength(16);
            delivery.Property(d => d.LastError).HasMaxLength(2000);
            delivery.HasOne<Alert>().WithMany().HasForeignKey(d => d.AlertId).OnDelete(DeleteBehavior.Cascade);
            delivery.HasOne<Webhook>().WithMany().HasForeignKey(d => d.WebhookId).OnDelete(DeleteBehavior.Cascade);
        });
    }
}
