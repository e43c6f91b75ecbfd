using System.Text.Json;

namespace Assistant.Web.Gateway;

/// <summary>The gateway's API speaks snake_case JSON, like OpenAI's.</summary>
public static class GatewayJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}

public sealed record ApiList<T>(IReadOnlyList<T> Data, bool HasMore);

public sealed record ModelRef(string Name, int Version)
{
    public override string ToString() => $"{Name}@{Version}";
}

public sealed record JobDatasets(string? Train, string? Validation, string? Test);

public sealed record JobError(string Code, string Message, string? Param);

public sealed record Job(
    string Id, string Status, string Method, string BaseModel, JobDatasets Datasets, JsonElement Hyperparameters, JsonElement Metrics,
    string? Suffix, int Attempts, int MaxAttempts, string? WorkerId, JobError? Error, long TrainedTokens, int Step, int TotalSteps,
    ModelRef? ResultModel, DateTimeOffset CreatedAt, DateTimeOffset? QueuedAt, DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt,
    bool CancelRequested)
{
    public static readonly string[] Statuses = ["validating_files", "queued", "running", "succeeded", "failed", "cancelled"];

    public bool IsActive => Status is "validating_files" or "queued" or "running";

    /// <summary>0..1, or null before the worker knows the number of steps.</summary>
    public double? Progress => Status == "succeeded" ? 1 : TotalSteps > 0 ? Math.Clamp((double)Step / TotalSteps, 0, 1) : null;
}

public sealed record JobEvent(long Id, string Level, string Type, string Message, JsonElement? Data, DateTimeOffset CreatedAt);

public sealed record Checkpoint(Guid Id, int StepNumber, JsonElement Metrics, bool IsBest, string FineTunedModelCheckpoint, DateTimeOffset CreatedAt);

public sealed record MetricSeries(IReadOnlyList<int> Steps, IReadOnlyList<double?> Values);

public sealed record JobMetrics(string JobId, IReadOnlyDictionary<string, MetricSeries> Series);

public sealed record Worker(
    string Id, string Hostname, string Device, string State, string? CurrentJobId, DateTimeOffset LastHeartbeatAt, double CpuPercent,
    long RssBytes, long HostMemoryUsedBytes, long HostMemoryTotalBytes, double? GpuUtilizationPercent, long? GpuMemoryUsedBytes, long? GpuMemoryTotalBytes);

public sealed record ModelSummary(string Name, string Kind, string? Description, int? LatestVersion, IReadOnlyDictionary<string, int> Aliases, DateTimeOffset CreatedAt);

public sealed record DatasetLineage(string Role, string Dataset, int Version);

public sealed record ModelVersion(
    int Version, string Ref, string Source, string? JobId, ModelRef? BaseModel, IReadOnlyList<DatasetLineage>? Datasets, JsonElement Metrics,
    string Architecture, long Parameters, string PlatformVersion, IReadOnlyList<string> Aliases, string? Description, string CreatedBy, DateTimeOffset CreatedAt);

public sealed record AliasMove(string Alias, int? FromVersion, int? ToVersion, string MovedBy, string? Reason, DateTimeOffset MovedAt);

public sealed record Model(
    string Name, string Kind, string? Description, DateTimeOffset CreatedAt, IReadOnlyList<ModelVersion> Versions,
    IReadOnlyDictionary<string, int> Aliases, IReadOnlyList<AliasMove> AliasHistory);

public sealed record DatasetSummary(string Name, string? Description, int? LatestVersion, long? Examples, string? Format, DateTimeOffset CreatedAt);

public sealed record Alert(long Id, string Kind, string Severity, string Subject, string Message, string? JobId, string? WorkerId, DateTimeOffset CreatedAt, bool Acknowledged);

public sealed record ReplicaVersion(string Replica, int? Version, string State, string? Error);

/// <summary>What inference serves for an alias (<c>GET /api/deployments</c>), next to what the registry says.</summary>
public sealed record Deployment(string Model, string Alias, int Version, DateTimeOffset UpdatedAt, IReadOnlyList<ReplicaVersion> Replicas, bool Converged);

public sealed record DeploymentList(IReadOnlyList<Deployment> Data);

public sealed record Deployed(string JobId, string Model, string Alias, int Version, int? PreviousVersion);

/// <summary>One entry of <c>GET /v1/models</c>: the id to send, and the version behind it.</summary>
/// <param name="Alias">The alias the version is served for; null for a version loaded on demand (its id is <c>name@N</c>).</param>
public sealed record ServedModel(string Id, int? Version, string? Alias, string? Root);

public sealed record ServedModelList(IReadOnlyList<ServedModel> Data);
