using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.RegularExpressions;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Assistant.Platform.Models;

/// <summary>A model reference or registration the registry cannot honour; <see cref="Field"/> names the input at fault.</summary>
public sealed class ModelRegistryException(string field, string message, bool notFound = false) : Exception(message)
{
    public string Field { get; } = field;
    /// <summary>The reference is well formed but names nothing (404 rather than 400).</summary>
    public bool NotFound { get; } = notFound;
}

/// <summary>A dataset version a model version was trained or evaluated on.</summary>
public sealed record DatasetLineage(string Role, string Dataset, int Version, Guid Id);

/// <summary>Everything needed to register a version whose files are already under <see cref="ArtifactPrefix"/>.</summary>
public sealed record NewModelVersion
{
    public required string Name { get; init; }
    public required string Kind { get; init; }
    public required string Source { get; init; }
    public required string ArtifactPrefix { get; init; }
    public required string Architecture { get; init; }
    public long Parameters { get; init; }
    public string? JobId { get; init; }
    public Guid? BaseModelVersionId { get; init; }
    public IReadOnlyList<DatasetLineage> Datasets { get; init; } = [];
    public string? Hyperparameters { get; init; }
    public string Metrics { get; init; } = "{}";
    public string? Description { get; init; }
    public required string CreatedBy { get; init; }
}

/// <summary>
/// Registered models, their numbered immutable versions and their movable aliases. Files go to S3 first
/// (under a fresh prefix) and the record is inserted last, so a failure never leaves a version without
/// its files; version numbers are taken under the models' unique index and retried on a race.
/// </summary>
public sealed partial class ModelRegistry(PlatformDbContext db, ArtifactStore artifacts)
{
    public static readonly ActivitySource Activity = new("Assistant.Registry");
    public const string StarterName = "starter";

    /// <summary><c>model_versions.source</c> of the version a job produced (one per job; its checkpoints' versions say "checkpoint").</summary>
    public const string JobSource = "job";
    public const string LatestAlias = "latest";

    /// <summary>The alias inference replicas serve unless configured otherwise, and the one a deploy moves by default.</summary>
    public const string ProductionAlias = "production";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public const string NameRule = "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters";
    public const string AliasRule = "lowercase letters, digits, '_' and '-', starting with a letter, at most 64 characters";

    public static bool IsValidName(string name) => NamePattern().IsMatch(name);
    public static bool IsValidAlias(string alias) => AliasPattern().IsMatch(alias);

    /// <summary>Parses <c>name</c>, <c>name@3</c> or <c>name:alias</c> (<c>name</c> alone = the latest version).</summary>
    public static bool TryParseReference(string? text, [NotNullWhen(true)] out string? name, out int? version, out string? alias)
    {
        (name, version, alias) = (null, null, null);
        if (string.IsNullOrWhiteSpace(text)) return false;
        var at = text.IndexOf('@');
        var colon = text.IndexOf(':');
        if (at >= 0 && colon >= 0) return false;
        if (at >= 0)
        {
            if (!int.TryParse(text.AsSpan(at + 1), System.Globalization.NumberStyles.None, null, out var number) || number < 1) return false;
            version = number;
            text = text[..at];
        }
        else if (colon >= 0)
        {
            alias = text[(colon + 1)..];
            if (!IsValidAlias(alias)) return false;
            text = text[..colon];
        }
        if (!IsValidName(text)) return false;
        name = text;
        return true;
    }

    /// <summary>The version a reference names; unknown names, versions and aliases are a <see cref="ModelRegistryException"/>.</summary>
    public async Task<ModelVersion> ResolveAsync(string reference, CancellationToken ct, string field = "base_model")
    {
        if (!TryParseReference(reference, out var name, out var number, out var alias))
            throw new ModelRegistryException(field, $"'{reference}' is not a model reference: use name, name@version or name:alias ({NameRule}).");
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Name == name, ct)
            ?? throw new ModelRegistryException(field, $"No registered model is named '{name}'.", notFound: true);
        IQueryable<ModelVersion> versions = db.ModelVersions.AsNoTracking().Include(v => v.Model).Where(v => v.ModelId == model.Id);
        ModelVersion? found;
        if (number is int n)
        {
            found = await versions.SingleOrDefaultAsync(v => v.Version == n, ct);
        }
        else if (alias is not null && alias != LatestAlias)
        {
            var pointer = await db.ModelAliases.AsNoTracking().SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == alias, ct)
                ?? throw new ModelRegistryException(field, $"Model '{name}' has no alias '{alias}'.", notFound: true);
            found = await versions.SingleOrDefaultAsync(v => v.Id == pointer.VersionId, ct);
        }
        else
        {
            found = await versions.OrderByDescending(v => v.Version).FirstOrDefaultAsync(ct);
        }
        return found ?? throw new ModelRegistryException(field, $"Model '{name}' has no version {(number?.ToString() ?? "yet")}.", notFound: true);
    }

    /// <summary>The version <paramref name="alias"/> points at in every model that has it (what inference replicas serve).</summary>
    public async Task<List<ModelVersion>> ListAliasTargetsAsync(string alias, CancellationToken ct) =>
        await db.ModelVersions.AsNoTracking().Include(v => v.Model)
            .Where(v => db.ModelAliases.Any(a => a.Alias == alias && a.VersionId == v.Id))
            .OrderBy(v => v.Model!.Name)
            .ToListAsync(ct);

    public async Task<ModelVersion> GetVersionAsync(Guid versionId, CancellationToken ct) =>
        await db.ModelVersions.AsNoTracking().Include(v => v.Model).SingleOrDefaultAsync(v => v.Id == versionId, ct)
        ?? throw new ModelRegistryException("version", $"Model version {versionId} does not exist.", notFound: true);

    /// <summary>Downloads a version's HF folder from S3 into <paramref name="folder"/>.</summary>
    public async Task DownloadAsync(ModelVersion version, string folder, CancellationToken ct)
    {
        using var span = Activity.StartActivity("download model version");
        span?.SetTag("model.version", version.Id);
        if (await artifacts.DownloadFolderAsync(version.ArtifactPrefix, folder, ct) == 0)
            throw new InvalidDataException($"Model version {version.Id} has no files under '{version.ArtifactPrefix}'.");
    }

    public Task UploadFolderAsync(string folder, string prefix, CancellationToken ct) => artifacts.UploadFolderAsync(folder, prefix, ct);

    /// <summary>Registers the next version of <see cref="NewModelVersion.Name"/> (creating the model when new) and records the datasets it used.</summary>
    public async Task<ModelVersion> RegisterVersionAsync(NewModelVersion request, CancellationToken ct)
    {
        if (!IsValidName(request.Name)) throw new ModelRegistryException("name", $"'{request.Name}' is not a model name: use {NameRule}.");
        using var span = Activity.StartActivity("register model version");
        span?.SetTag("model.name", request.Name);
        for (var attempt = 1; ; attempt++)
        {
            var now = DateTimeOffset.UtcNow;
            var model = await db.Models.SingleOrDefaultAsync(m => m.Name == request.Name, ct);
            if (model is null)
            {
                model = new RegisteredModel { Id = Guid.NewGuid(), Name = request.Name, Kind = request.Kind, Description = request.Description, CreatedAt = now };
                db.Models.Add(model);
            }
            var latest = await db.ModelVersions.Where(v => v.ModelId == model.Id).MaxAsync(v => (int?)v.Version, ct) ?? 0;
            var version = new ModelVersion
            {
                Id = Guid.NewGuid(),
                ModelId = model.Id,
                Model = model,
                Version = latest + 1,
                Source = request.Source,
                JobId = request.JobId,
                BaseModelVersionId = request.BaseModelVersionId,
                DatasetVersions = JsonSerializer.Serialize(request.Datasets, Json),
                Hyperparameters = request.Hyperparameters,
                Metrics = request.Metrics,
                ArtifactPrefix = request.ArtifactPrefix,
                Architecture = request.Architecture,
                Parameters = request.Parameters,
                PlatformVersion = PlatformBuild.Version,
                Description = request.Description,
                CreatedBy = request.CreatedBy,
                CreatedAt = now,
            };
            db.ModelVersions.Add(version);
            foreach (var dataset in request.Datasets.DistinctBy(d => d.Id))
            {
                db.DatasetVersionUsages.Add(new DatasetVersionUsage
                {
                    DatasetVersionId = dataset.Id, UsedByKind = "model_version", UsedById = version.Id.ToString(), CreatedAt = now,
                });
            }
            try
            {
                await db.SaveChangesAsync(ct);
                span?.SetTag("model.version", version.Version);
                return version;
            }
            catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } && attempt < 5)
            {
                // Another registration took the name or the number first (or registered this job): read again.
                db.ChangeTracker.Clear();
                if (request.Source == JobSource && await db.ModelVersions.Include(v => v.Model).SingleOrDefaultAsync(v => v.JobId == request.JobId && v.Source == JobSource, ct) is { } existing)
                    return existing;
            }
        }
    }

    /// <summary>
    /// Uploads a local HF folder under a fresh prefix and registers it as the next version of base model
    /// <paramref name="name"/> (<paramref name="source"/>: starter or import). The files go first, the record last.
    /// </summary>
    public async Task<ModelVersion> RegisterBaseFolderAsync(string folder, HfFolder info, string name, string source, string? description, string createdBy, CancellationToken ct)
    {
        var prefix = $"models/{name}/{Guid.NewGuid():N}/";
        await artifacts.UploadFolderAsync(folder, prefix, ct);
        return await RegisterVersionAsync(new NewModelVersion
        {
            Name = name,
            Kind = ModelKind.Base,
            Source = source,
            ArtifactPrefix = prefix,
            Architecture = info.Architecture,
            Parameters = info.Parameters,
            Description = description,
            CreatedBy = createdBy,
        }, ct);
    }

    /// <summary>
    /// Registers what a succeeded job produced, once: a second call (deploy after the worker registered it)
    /// returns the same version. The model is named by the job's suffix, else "{base model}-{method}".
    /// </summary>
    public async Task<ModelVersion> RegisterJobVersionAsync(TrainingJob job, string artifactPrefix, HfFolder model, string metricsJson, CancellationToken ct)
    {
        if (await db.ModelVersions.AsNoTracking().Include(v => v.Model).SingleOrDefaultAsync(v => v.JobId == job.Id && v.Source == JobSource, ct) is { } existing)
            return existing;
        var baseVersion = await GetVersionAsync(job.BaseModelVersionId, ct);
        return await RegisterVersionAsync(new NewModelVersion
        {
            Name = job.Suffix ?? $"{baseVersion.Model!.Name}-{job.Method}",
            Kind = ModelKind.Trained,
            Source = JobSource,
            ArtifactPrefix = artifactPrefix,
            Architecture = model.Architecture,
            Parameters = model.Parameters,
            JobId = job.Id,
            BaseModelVersionId = job.BaseModelVersionId,
            Datasets = await LineageAsync(job, ct),
            Hyperparameters = job.Hyperparameters,
            Metrics = metricsJson,
            CreatedBy = job.CreatedBy,
        }, ct);
    }

    /// <summary>
    /// Registers a checkpoint of a full fine-tune (its weights already copied under <paramref name="artifactPrefix"/>) as the
    /// next version of <paramref name="name"/>. The job's own version keeps the job id (one version per job), so this one
    /// names its job and step in its source and description; its base model and datasets are the job's.
    /// </summary>
    public async Task<ModelVersion> RegisterCheckpointVersionAsync(
        TrainingJob job, int step, string name, string artifactPrefix, string metricsJson, string? description, string createdBy, CancellationToken ct)
    {
        // A full fine-tune keeps its base model's architecture and size.
        var baseVersion = await GetVersionAsync(job.BaseModelVersionId, ct);
        return await RegisterVersionAsync(new NewModelVersion
        {
            Name = name,
            Kind = ModelKind.Trained,
            Source = "checkpoint",
            ArtifactPrefix = artifactPrefix,
            Architecture = baseVersion.Architecture,
            Parameters = baseVersion.Parameters,
            JobId = job.Id,
            BaseModelVersionId = job.BaseModelVersionId,
            Datasets = await LineageAsync(job, ct),
            Hyperparameters = job.Hyperparameters,
            Metrics = metricsJson,
            Description = description ?? $"Checkpoint at step {step} of job {job.Id}",
            CreatedBy = createdBy,
        }, ct);
    }

    /// <summary>The dataset versions a job trained, validated and tested on, by role.</summary>
    private async Task<List<DatasetLineage>> LineageAsync(TrainingJob job, CancellationToken ct)
    {
        var ids = new[] { ("train", (Guid?)job.TrainDatasetVersionId), ("validation", job.ValidationDatasetVersionId), ("test", job.TestDatasetVersionId) }
            .Where(d => d.Item2 is not null).ToList();
        var versionIds = ids.Select(d => d.Item2!.Value).ToList();
        var datasets = await db.DatasetVersions.AsNoTracking().Include(v => v.Dataset)
            .Where(v => versionIds.Contains(v.Id)).ToDictionaryAsync(v => v.Id, ct);
        return ids.Where(d => datasets.ContainsKey(d.Item2!.Value))
            .Select(d => datasets[d.Item2!.Value] is var v ? new DatasetLineage(d.Item1, v.Dataset!.Name, v.Version, v.Id) : null!)
            .ToList();
    }

    /// <summary>
    /// Registers the built-in starter model as base model <c>starter</c> version 1 when it is not there yet.
    /// <paramref name="createFolder"/> writes the HF folder (the caller owns TorchSharp). Serialized across
    /// processes with a Postgres advisory lock, so workers starting together register it once.
    /// </summary>
    public async Task<ModelVersion> EnsureStarterAsync(Func<string, Task> createFolder, CancellationToken ct)
    {
        if (await FindLatestAsync(StarterName, ct) is { } registered) return registered;
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_lock(72011)", ct);
            try
            {
                if (await FindLatestAsync(StarterName, ct) is { } raced) return raced;
                var folder = Path.Combine(Path.GetTempPath(), $"assistant-starter-{Guid.NewGuid():N}");
                try
                {
                    await createFolder(folder);
                    return await RegisterBaseFolderAsync(folder, HfFolder.Read(folder), StarterName, "starter",
                        "The platform's built-in starter model (tiny Llama, byte-level vocabulary, random weights): pretrain it on a corpus, then fine-tune.",
                        "platform", ct);
                }
                finally
                {
                    if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
                }
            }
            finally
            {
                await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_unlock(72011)", CancellationToken.None);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }

    /// <summary>Points <paramref name="alias"/> of <paramref name="modelName"/> at <paramref name="version"/> and records the move.</summary>
    public async Task<AliasMove> MoveAliasAsync(string modelName, string alias, int version, string movedBy, string? reason, CancellationToken ct)
    {
        if (!IsValidAlias(alias) || alias == LatestAlias)
            throw new ModelRegistryException("alias", $"'{alias}' is not an alias name: use {AliasRule} ('{LatestAlias}' is implicit).");
        var model = await db.Models.SingleOrDefaultAsync(m => m.Name == modelName, ct)
            ?? throw new ModelRegistryException("model", $"No registered model is named '{modelName}'.", notFound: true);
        var target = await db.ModelVersions.SingleOrDefaultAsync(v => v.ModelId == model.Id && v.Version == version, ct)
            ?? throw new ModelRegistryException("version", $"Model '{modelName}' has no version {version}.", notFound: true);
        var now = DateTimeOffset.UtcNow;
        var pointer = await db.ModelAliases.SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == alias, ct);
        int? from = null;
        if (pointer is null)
        {
            db.ModelAliases.Add(new ModelAlias { ModelId = model.Id, Alias = alias, VersionId = target.Id, UpdatedAt = now });
        }
        else
        {
            from = await db.ModelVersions.Where(v => v.Id == pointer.VersionId).Select(v => (int?)v.Version).SingleOrDefaultAsync(ct);
            pointer.VersionId = target.Id;
            pointer.UpdatedAt = now;
        }
        var move = new AliasMove { ModelId = model.Id, Alias = alias, FromVersion = from, ToVersion = version, MovedBy = movedBy, Reason = reason, MovedAt = now };
        db.AliasMoves.Add(move);
        await db.SaveChangesAsync(ct);
        return move;
    }

    /// <summary>Removes <paramref name="alias"/> of <paramref name="modelName"/>; the removal is recorded as a move to no version.</summary>
    public async Task<AliasMove> RemoveAliasAsync(string modelName, string alias, string movedBy, string? reason, CancellationToken ct)
    {
        var model = await db.Models.SingleOrDefaultAsync(m => m.Name == modelName, ct)
            ?? throw new ModelRegistryException("name", $"No registered model is named '{modelName}'.", notFound: true);
        var pointer = await db.ModelAliases.SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == alias, ct)
            ?? throw new ModelRegistryException("alias", $"Model '{modelName}' has no alias '{alias}'.", notFound: true);
        var from = await db.ModelVersions.Where(v => v.Id == pointer.VersionId).Select(v => (int?)v.Version).SingleOrDefaultAsync(ct);
        db.ModelAliases.Remove(pointer);
        var move = new AliasMove { ModelId = model.Id, Alias = alias, FromVersion = from, ToVersion = null, MovedBy = movedBy, Reason = reason, MovedAt = DateTimeOffset.UtcNow };
        db.AliasMoves.Add(move);
        await db.SaveChangesAsync(ct); // one transaction: the alias goes and its history records it, or neither
        return move;
    }

    private Task<ModelVersion?> FindLatestAsync(string name, CancellationToken ct) =>
        db.ModelVersions.AsNoTracking().Include(v => v.Model).Where(v => v.Model!.Name == name)
            .OrderByDescending(v => v.Version).FirstOrDefaultAsync(ct);

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,127}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[a-z][a-z0-9_-]{0,63}$")]
    private static partial Regex AliasPattern();
}
