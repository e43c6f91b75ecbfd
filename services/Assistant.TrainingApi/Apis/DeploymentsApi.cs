using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record DeploymentDto(string JobId, string Model, string Alias, int Version, int? PreviousVersion, string ArtifactPrefix, string DeployedBy, DateTimeOffset DeployedAt);

/// <summary>
/// <c>POST /api/deploy/{job_id}</c> (the seed's deploy): the job's model version, registered if it is not yet, becomes
/// what an alias (<c>production</c> unless <c>?alias=</c>) points at; inference replicas follow the alias.
/// </summary>
public static class DeploymentsApi
{
    public static IEndpointRouteBuilder MapDeploymentsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/deploy").WithTags("Models").AddEndpointFilter<ApiProblems>()
            .MapPost("/{jobId}", Deploy).WithName("DeployJob").RequireScope(ApiScopes.Train)
            .WithSummary("Deploy a succeeded job's model: register it if needed and move the alias (production, or ?alias=) to its version.");
        return app;
    }

    private static async Task<Ok<DeploymentDto>> Deploy(
        string jobId, HttpContext http, PlatformDbContext db, ModelRegistry registry, ArtifactStore artifacts, Deployments deployments,
        CancellationToken ct, string? alias = null, string? reason = null)
    {
        alias ??= "production";
        if (!ModelRegistry.IsValidAlias(alias) || alias == ModelRegistry.LatestAlias)
        {
            throw ApiProblem.Invalid("alias", $"'{alias}' is not an alias name: use {ModelRegistry.AliasRule}.");
        }
        var job = await JobViews.FindAsync(db, jobId, ct);
        if (job.Status != JobStatus.Succeeded)
        {
            throw ApiProblem.Conflict("status", $"Job {jobId} is {job.Status}; only a succeeded job can be deployed.");
        }
        var version = job.ResultModelVersionId is { } id ? await registry.GetVersionAsync(id, ct) : await RegisterAsync(job, registry, artifacts, db, ct);
        var caller = Caller.Of(http);
        var move = await registry.MoveAliasAsync(version.Model!.Name, alias, version.Version, caller, reason ?? $"deploy of job {jobId}", ct);
        await deployments.AnnounceAsync(version.Model.Name, alias, version.Version, ct);
        return TypedResults.Ok(new DeploymentDto(jobId, version.Model.Name, alias, version.Version, move.FromVersion, version.ArtifactPrefix, caller, move.MovedAt));
    }

    /// <summary>
    /// Registers the HF folder the trainer uploads before registering (<see cref="TrainingJob.ModelPrefix"/>), for a job whose
    /// trainer stopped in between; 409 when there is none.
    /// </summary>
    private static async Task<ModelVersion> RegisterAsync(TrainingJob job, ModelRegistry registry, ArtifactStore artifacts, PlatformDbContext db, CancellationToken ct)
    {
        var prefix = TrainingJob.ModelPrefix(job.Id);
        var folder = Path.Combine(Path.GetTempPath(), $"assistant-deploy-{Guid.NewGuid():N}");
        try
        {
            if (await artifacts.DownloadFolderAsync(prefix, folder, ct) == 0)
            {
                throw ApiProblem.Conflict("result_model", $"Job {job.Id} has no registered model and no exported folder under '{prefix}'.");
            }
            HfFolder info;
            try
            {
                info = HfFolder.Read(folder);
            }
            catch (InvalidDataException ex)
            {
                throw ApiProblem.Conflict("result_model", $"The exported folder of job {job.Id} is not a model: {ex.Message}");
            }
            var version = await registry.RegisterJobVersionAsync(job, prefix, info, job.Metrics, ct);
            await db.Jobs.Where(j => j.Id == job.Id && j.ResultModelVersionId == null)
                .ExecuteUpdateAsync(s => s.SetProperty(j => j.ResultModelVersionId, version.Id), ct);
            return version;
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
