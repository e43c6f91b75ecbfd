using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
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

    public static async Task<EvaluationDto> ToDtoAsync(PlatformDbContext db, Evaluation e, CancellationToken ct)
    {
        var model = await db.ModelVersions.AsNoTracking().Where(v => v.Id == e.ModelVersionId)
            .Select(v => new ModelRefDto(v.Model!.Name, v.Version)).FirstOrDefaultAsync(ct);
        return new EvaluationDto(e.Id, "evaluation", e.JobId, model, e.DatasetRef, e.DatasetSha256, e.Status,
            e.Metrics is null ? null : JobDto.Json(e.Metrics), e.ErrorMessage, e.WorkerId, e.CreatedAt, e.CompletedAt);
    }
}
