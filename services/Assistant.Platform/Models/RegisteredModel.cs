namespace Assistant.Platform.Models;

public static class ModelKind
{
    /// <summary>A starting point: the built-in starter or an imported HF checkpoint.</summary>
    public const string Base = "base";
    /// <summary>Produced by a training job.</summary>
    public const string Trained = "trained";
}

/// <summary>A named model in the registry; its weights live in numbered, immutable versions.</summary>
public sealed class RegisteredModel
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public required string Kind { get; set; }
    public string? Description { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public List<ModelVersion> Versions { get; set; } = [];
    public List<ModelAlias> Aliases { get; set; } = [];
}

/// <summary>
/// One immutable version: an HF folder in S3 plus its lineage (job, dataset versions, base model version,
/// hyperparameters, metrics, and the platform version that produced it).
/// </summary>
public sealed class ModelVersion
{
    public Guid Id { get; set; }
    public Guid ModelId { get; set; }
    public RegisteredModel? Model { get; set; }
    public int Version { get; set; }
    /// <summary>starter, import, job, or checkpoint (a checkpoint of a job registered on request).</summary>
    public required string Source { get; set; }
    public string? JobId { get; set; }
    public Guid? BaseModelVersionId { get; set; }
    /// <summary>Datasets the version was trained on: <c>[{"role":"train","dataset":"support","version":2,"id":"..."}]</c>.</summary>
    public string DatasetVersions { get; set; } = "[]";
    public string? Hyperparameters { get; set; }
    public string Metrics { get; set; } = "{}";
    /// <summary>S3 prefix of the HF folder (config.json, model.safetensors, tokenizer files), ending with '/'.</summary>
    public required string ArtifactPrefix { get; set; }
    public required string Architecture { get; set; }
    public long Parameters { get; set; }
    public required string PlatformVersion { get; set; }
    public string? Description { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A movable name (<c>production</c>, <c>staging</c>, any) for one version of a model.</summary>
public sealed class ModelAlias
{
    public Guid ModelId { get; set; }
    public required string Alias { get; set; }
    public Guid VersionId { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Every alias move, kept forever: who pointed which alias from which version to which, and why.</summary>
public sealed class AliasMove
{
    public long Id { get; set; }
    public Guid ModelId { get; set; }
    public required string Alias { get; set; }
    public int? FromVersion { get; set; }
    public int? ToVersion { get; set; }
    public required string MovedBy { get; set; }
    public string? Reason { get; set; }
    public DateTimeOffset MovedAt { get; set; }
}
