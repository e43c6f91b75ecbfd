using System.Text.Json;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.TrainingApi.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record EvaluationDto(
    string Id, string Object, string JobId, ModelRefDto? Model, string Dataset, string DatasetSha256, string Status,
    JsonElement? Metrics, string? Error, string? WorkerId, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

/// <summary>Evaluations under <c>/api/evaluations</c>; they are created by <c>POST /api/jobs/{id}/evaluate</c> and run on a worker.</summary>
public static class EvaluationsApi
{
    /// <summary><c>dataset_version_usages.used_by_kind</c> of an evaluation.</summary>
    public const string UsedByEvaluation = "evaluation";

    public static IEndpointRouteBuilder MapEvaluationsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/evaluations").WithTags("Evaluations").AddEndpointFilter<ApiProblems>();
        api.MapGet("/{id}", Get).WithName("GetEvaluation").RequireScope(ApiScopes.Read)
            .WithSummary("One evaluation: queued, running, or its metrics (test_loss, exact_match, rouge_l...).");
        return app;
    }

    private static async Task<Ok<EvaluationDto>> Get(string id, PlatformDbContext db, CancellationToken ct)
    {
        var evaluation = await db.Evaluations.AsNoTracking().FirstOrDefaultAsync(e => e.Id == id, ct)
            ?? throw ApiProblem.NotFound("id", $"Evaluation '{id}' was not found.");
        return TypedResults.Ok(await ToDtoAsync(db, evaluation, ct));
    }

    /// <summary><c>GET /api/jobs/{id}/evaluations</c>: every evaluation of the job's model, newest first (a job has a handful).</summary>
    internal static async Task<Ok<ListDto<EvaluationDto>>> ListForJob(string id, PlatformDbContext db, CancellationToken ct)
    {
        await JobViews.FindAsync(db, id, ct);
        var evaluations = await db.Evaluations.AsNoTracking().Where(e => e.JobId == id).OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id).ToListAsync(ct);
        var versionIds = evaluations.Select(e => e.ModelVersionId).Distinct().ToList();
        var models = await db.ModelVersions.AsNoTracking().Where(v => versionIds.Contains(v.Id))
            .Select(v => new { v.Id, Ref = new ModelRefDto(v.Model!.Name, v.Version) }).ToDictionaryAsync(v => v.Id, v => v.Ref, ct);
        return TypedResults.Ok(new ListDto<EvaluationDto>(evaluations.Select(e => ToDto(e, models.GetValueOrDefault(e.ModelVersionId))).ToList(), HasMore: false));
    }

    private sealed record EvaluateRequest(string? Dataset, string? TestDataset, string? JobId);

    /// <summary><c>POST /api/jobs/{id}/evaluate</c>: queues an evaluation of a succeeded job's model; a worker scores it.</summary>
    internal static async Task<Accepted<EvaluationDto>> EvaluateJob(
        string id, HttpContext http, PlatformDbContext db, DatasetCatalog datasets, JobQueue queue, CancellationToken ct)
    {
        var job = await JobViews.FindAsync(db, id, ct);
        var request = await RequestBody.ReadAsync<EvaluateRequest>(http.Request, ct);
        if (request.JobId is not null && request.JobId != id)
        {
            throw ApiProblem.Invalid("job_id", $"job_id {request.JobId} differs from the job in the path, {id}.");
        }
        if (request.Dataset is not null && request.TestDataset is not null && request.Dataset != request.TestDataset)
        {
            throw ApiProblem.Invalid("test_dataset", "dataset and test_dataset name the same thing and differ; send one.");
        }
        var field = request.Dataset is null && request.TestDataset is not null ? "test_dataset" : "dataset";
        var text = request.Dataset ?? request.TestDataset ?? throw ApiProblem.Invalid("dataset", "Name the dataset version to evaluate on: {\"dataset\": \"name@version\"}.");
        if (!DatasetReference.TryParse(text, out var reference))
        {
            throw ApiProblem.Invalid(field, $"'{text}' is not a dataset reference: use name@version.");
        }
        if (job.Status != JobStatus.Succeeded)
        {
            throw ApiProblem.Conflict("status", $"Job {id} is {job.Status}; only a succeeded job has a model to evaluate.");
        }
        if (job.ResultModelVersionId is not { } modelVersionId)
        {
            throw ApiProblem.Conflict("result_model", $"Job {id} has no registered model version to evaluate.");
        }
        DatasetVersion version;
        try
        {
            version = await datasets.ResolveAsync(reference, ct);
        }
        catch (DatasetNotFoundException ex)
        {
            throw ApiProblem.Invalid(field, ex.Message);
        }

        var evaluation = new Evaluation
        {
            Id = Evaluation.NewId(),
            JobId = id,
            ModelVersionId = modelVersionId,
            DatasetVersionId = version.Id,
            DatasetRef = $"{version.Dataset!.Name}@{version.Version}",
            DatasetSha256 = version.Sha256,
            CreatedBy = Caller.Of(http),
            CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Evaluations.Add(evaluation);
        db.DatasetVersionUsages.Add(new DatasetVersionUsage
        {
            DatasetVersionId = version.Id, UsedByKind = UsedByEvaluation, UsedById = evaluation.Id, CreatedAt = evaluation.CreatedAt,
        });
        await db.SaveChangesAsync(ct);
        await queue.EnqueueAsync(WorkKind.Evaluation, evaluation.Id);
        return TypedResults.Accepted($"/api/evaluations/{evaluation.Id}", await ToDtoAsync(db, evaluation, ct));
    }

    public static async Task<EvaluationDto> ToDtoAsync(PlatformDbContext db, Evaluation e, CancellationToken ct)
    {
        var model = await db.ModelVersions.AsNoTracking().Where(v => v.Id == e.ModelVersionId)
            .Select(v => new ModelRefDto(v.Model!.Name, v.Version)).FirstOrDefaultAsync(ct);
        return ToDto(e, model);
    }

    private static EvaluationDto ToDto(Evaluation e, ModelRefDto? model) =>
        new(e.Id, "evaluation", e.JobId, model, e.DatasetRef, e.DatasetSha256, e.Status,
            e.Metrics is null ? null : JobDto.Json(e.Metrics), e.ErrorMessage, e.WorkerId, e.CreatedAt, e.CompletedAt);
}
