using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

/// <summary>The seed's <c>TrainingConfig</c>, kept so its clients read jobs as before.</summary>
public sealed record SeedConfigDto(string ModelName, string DatasetPath, double? LearningRate, double? NumEpochs, int? BatchSize, int? MaxLength);

public sealed record JobDatasetsDto(string? Train, string? Validation, string? Test);

public sealed record JobErrorDto(string Code, string Message, string? Param);

public sealed record ModelRefDto(string Name, int Version);

/// <summary>
/// A job on the wire: the seed's <c>TrainingJob</c> fields (<c>job_id</c>, <c>config</c>, <c>status</c>, times, <c>metrics</c>)
/// and OpenAI's fine-tuning job fields.
/// </summary>
public sealed record JobDto(
    string Id, string Object, string JobId, SeedConfigDto Config, string Status, DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt, DateTimeOffset? CompletedAt, JsonElement Metrics,
    string Method, string BaseModel, JobDatasetsDto Datasets, JsonElement Hyperparameters, long Seed, string? Suffix,
    int MaxAttempts, int Attempts, string? WorkerId, JobErrorDto? Error, long TrainedTokens, int Step, int TotalSteps,
    Guid? GroupId, ModelRefDto? ResultModel, DateTimeOffset? QueuedAt, bool CancelRequested)
{
    public static JobDto From(TrainingJob job, ModelRefDto? resultModel)
    {
        var hyperparameters = Json(job.Hyperparameters);
        var datasets = JsonSerializer.Deserialize<Dictionary<string, string>>(job.DatasetRefs) ?? [];
        var train = datasets.GetValueOrDefault("train");
        return new JobDto(
            job.Id, "fine_tuning.job", job.Id,
            new SeedConfigDto(job.BaseModel, train?.Split('#')[0] ?? "", Number(hyperparameters, "learning_rate"), Number(hyperparameters, "num_epochs"),
                (int?)Number(hyperparameters, "batch_size"), (int?)Number(hyperparameters, "max_length")),
            job.Status, job.CreatedAt, job.StartedAt, job.CompletedAt, Json(job.Metrics),
            job.Method, job.BaseModel, new JobDatasetsDto(train, datasets.GetValueOrDefault("validation"), datasets.GetValueOrDefault("test")),
            hyperparameters, job.Seed, job.Suffix, job.MaxAttempts, job.Attempts, job.WorkerId,
            job.ErrorCode is null ? null : new JobErrorDto(job.ErrorCode, job.ErrorMessage ?? "", job.ErrorParam),
            job.TrainedTokens, job.Step, job.TotalSteps, job.GroupId, resultModel, job.QueuedAt, job.CancelRequestedAt is not null);
    }

    /// <summary>A stored JSON text as a self-contained element (no pooled document left undisposed).</summary>
    public static JsonElement Json(string? text) => JsonSerializer.Deserialize<JsonElement>(string.IsNullOrEmpty(text) ? "{}" : text);

    private static double? Number(JsonElement json, string key) =>
        json.ValueKind == JsonValueKind.Object && json.TryGetProperty(key, out var value) && value.TryGetDouble(out var number) ? number : null;
}

/// <summary>OpenAI's list envelope; the seed's clients read <c>data</c>.</summary>
public sealed record ListDto<T>(IReadOnlyList<T> Data, bool HasMore)
{
    public string Object => "list";
}

/// <summary>Loads jobs as <see cref="JobDto"/>s, with the model versions they produced, in one round trip each.</summary>
public static class JobViews
{
    public static async Task<List<JobDto>> ToDtosAsync(PlatformDbContext db, IReadOnlyList<TrainingJob> jobs, CancellationToken ct)
    {
        var versionIds = jobs.Where(j => j.ResultModelVersionId is not null).Select(j => j.ResultModelVersionId!.Value).Distinct().ToList();
        var models = versionIds.Count == 0
            ? []
            : await db.ModelVersions.AsNoTracking().Where(v => versionIds.Contains(v.Id))
                .Select(v => new { v.Id, v.Model!.Name, v.Version }).ToDictionaryAsync(v => v.Id, v => new ModelRefDto(v.Name, v.Version), ct);
        return jobs.Select(j => JobDto.From(j, j.ResultModelVersionId is { } id ? models.GetValueOrDefault(id) : null)).ToList();
    }

    public static async Task<JobDto> ToDtoAsync(PlatformDbContext db, TrainingJob job, CancellationToken ct) =>
        (await ToDtosAsync(db, [job], ct))[0];

    public static async Task<TrainingJob> FindAsync(PlatformDbContext db, string id, CancellationToken ct) =>
        await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct)
        ?? throw ApiProblem.NotFound("id", $"Job '{id}' was not found.");
}
