using System.Text.Json;
using Assistant.Modeling.Training;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.TrainingApi.Apis;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Assistant.TrainingApi.Jobs;

/// <summary>One part of a job's data: its role, the field that named it, the version it comes from and its examples.</summary>
public sealed record JobData(string Role, string Field, string Reference, DatasetVersion Version, long Examples);

/// <summary>A job ready to be stored: its row (nothing left to resolve at run time) and the data it reads.</summary>
public sealed record PlannedJob(TrainingJob Job, IReadOnlyList<JobData> Data);

/// <summary>
/// Resolves job requests into jobs: hyperparameters validated with defaults filled in, the base model version
/// and every dataset version pinned now (a later upload never changes what a job trains on), splits cut.
/// Everything that only reads happens first, for every request, so an invalid one stores nothing.
/// </summary>
public sealed class JobPlanner(PlatformDbContext db, DatasetCatalog datasets, ModelRegistry models)
{
    private sealed record Draft(JobRequest Request, TrainingConfig Config, ModelVersion BaseModel, IReadOnlyList<JobData> Data, DatasetVersion? SplitSource);

    public async Task<IReadOnlyList<PlannedJob>> PlanAsync(IReadOnlyList<JobRequest> requests, string createdBy, Guid? groupId, CancellationToken ct)
    {
        var drafts = new List<Draft>(requests.Count);
        foreach (var request in requests)
        {
            drafts.Add(await DraftAsync(request, ct));
        }

        // Only now store anything: a split's parts (idempotent per version, ratios and seed).
        var now = DateTimeOffset.UtcNow;
        var planned = new List<PlannedJob>(drafts.Count);
        foreach (var draft in drafts)
        {
            DatasetSplit? split = null;
            var data = draft.Data;
            if (draft.SplitSource is { } source)
            {
                split = await SplitAsync(source, draft.Request.Split!, ct);
                data = PartsOf(source, split);
            }
            var part = data.ToDictionary(d => d.Role);
            var job = new TrainingJob
            {
                Id = TrainingJob.NewId(),
                Status = JobStatus.ValidatingFiles,
                Method = draft.Request.Method,
                BaseModel = draft.Request.BaseModel,
                BaseModelVersionId = draft.BaseModel.Id,
                TrainDatasetVersionId = part["train"].Version.Id,
                ValidationDatasetVersionId = part.GetValueOrDefault("validation")?.Version.Id,
                TestDatasetVersionId = part.GetValueOrDefault("test")?.Version.Id,
                DatasetSplitId = split?.Id,
                TrainSha256 = split?.TrainSha256 ?? part["train"].Version.Sha256,
                ValidationSha256 = part.ContainsKey("validation") ? split?.ValidationSha256 ?? part["validation"].Version.Sha256 : null,
                TestSha256 = part.ContainsKey("test") ? split?.TestSha256 ?? part["test"].Version.Sha256 : null,
                DatasetRefs = JsonSerializer.Serialize(data.ToDictionary(d => d.Role, d => d.Reference)),
                Hyperparameters = draft.Config.ToJson(),
                Seed = draft.Config.Seed,
                Suffix = draft.Request.Suffix,
                MaxAttempts = draft.Request.MaxAttempts ?? 3,
                GroupId = groupId,
                CreatedBy = createdBy,
                CreatedAt = now,
            };
            planned.Add(new PlannedJob(job, data));
        }
        return planned;
    }

    private async Task<Draft> DraftAsync(JobRequest request, CancellationToken ct)
    {
        var seed = SeedOf(request);
        var config = Hyperparameters.Build(request.Hyperparameters, request.FieldOf, request.Method, seed);
        var baseModel = await ResolveBaseModelAsync(request, ct);
        if (request.Split is { } split)
        {
            return new Draft(request, config, baseModel, [], await ResolveDatasetAsync(split.Dataset, "split.dataset", ct));
        }

        var data = new List<JobData>();
        foreach (var (role, field, reference) in new[]
                 {
                     ("train", request.TrainingDataField, request.TrainingData),
                     ("validation", "validation_data", request.ValidationData),
                     ("test", "test_data", request.TestData),
                 })
        {
            if (reference is not null)
            {
                var version = await ResolveDatasetAsync(reference, field, ct);
                data.Add(new JobData(role, field, $"{version.Dataset!.Name}@{version.Version}", version, version.Examples));
            }
        }
        return new Draft(request, config, baseModel, data, null);
    }

    /// <summary>The job's seed: the top-level one, else hyperparameters.seed, else a fresh one (recorded, so the run is repeatable).</summary>
    private static long SeedOf(JobRequest request)
    {
        long? fromHyperparameters = null;
        if (request.Hyperparameters.GetValueOrDefault("seed") is { } node)
        {
            try
            {
                fromHyperparameters = node.Deserialize<long>();
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw ApiProblem.Invalid(request.FieldOf("seed"), $"seed must be a whole number, not {node.ToJsonString()}.");
            }
        }
        if (request.Seed is { } top && fromHyperparameters is { } inner && top != inner)
        {
            throw ApiProblem.Invalid("seed", $"seed is {top} but hyperparameters.seed is {inner}; send one.");
        }
        return request.Seed ?? fromHyperparameters ?? Random.Shared.Next();
    }

    private async Task<ModelVersion> ResolveBaseModelAsync(JobRequest request, CancellationToken ct)
    {
        try
        {
            return await models.ResolveAsync(request.BaseModel, ct, request.BaseModelField);
        }
        catch (ModelRegistryException ex)
        {
            // Named in the body: a reference to nothing is a bad request, not a missing resource.
            throw ApiProblem.Invalid(ex.Field, ex.Message);
        }
    }

    private async Task<DatasetVersion> ResolveDatasetAsync(string text, string field, CancellationToken ct)
    {
        if (!DatasetReference.TryParse(text, out var reference))
        {
            throw ApiProblem.Invalid(field, $"'{text}' is not a dataset reference: use name@version (e.g. support@2).");
        }
        try
        {
            return await datasets.ResolveAsync(reference, ct);
        }
        catch (DatasetNotFoundException ex)
        {
            throw ApiProblem.Invalid(field, ex.Message);
        }
    }

    private async Task<DatasetSplit> SplitAsync(DatasetVersion source, DataSplitRequest request, CancellationToken ct)
    {
        try
        {
            return await datasets.SplitAsync(source, request.Ratios, request.Seed, ct);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // Another request cut the same split at the same moment: use theirs (same seed, same parts).
            db.ChangeTracker.Clear();
            return await datasets.SplitAsync(source, request.Ratios, request.Seed, ct);
        }
    }

    /// <summary>The parts of a split a job reads; an empty validation or test part is left out.</summary>
    private static List<JobData> PartsOf(DatasetVersion source, DatasetSplit split)
    {
        var reference = $"{source.Dataset!.Name}@{source.Version}";
        var parts = new List<JobData> { new("train", "split.dataset", $"{reference}#train", source, split.TrainExamples) };
        if (split.ValidationExamples > 0)
        {
            parts.Add(new("validation", "split.dataset", $"{reference}#validation", source, split.ValidationExamples));
        }
        if (split.TestExamples > 0)
        {
            parts.Add(new("test", "split.dataset", $"{reference}#test", source, split.TestExamples));
        }
        return parts;
    }
}
