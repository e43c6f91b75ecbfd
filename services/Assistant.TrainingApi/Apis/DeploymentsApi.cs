using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Registry;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record DeploymentDto(
    string JobId, string Model, string Alias, int Version, int? PreviousVersion, string ArtifactPrefix, string DeployedBy, DateTimeOffset DeployedAt, GateResult Gate);

/// <summary>One replica's view of a deployment: the version it serves of that model and its load state.</summary>
public sealed record ReplicaVersionDto(string Replica, int? Version, string State, DateTimeOffset? LoadedAt, string? Error);

/// <summary>
/// A model alias that inference follows: the version the registry says (<see cref="Version"/>) and what each live
/// replica serves; <see cref="Converged"/> once every live replica serves that version.
/// </summary>
public sealed record DeploymentStateDto(string Model, string Alias, int Version, DateTimeOffset UpdatedAt, IReadOnlyList<ReplicaVersionDto> Replicas, bool Converged);

public sealed record DeploymentsDto(string Object, IReadOnlyList<DeploymentStateDto> Data, IReadOnlyList<InferenceReplica> Replicas);

/// <summary>
/// <c>POST /api/deploy/{job_id}</c> (the seed's deploy): the job's model version, registered if it is not yet, becomes
/// what an alias (<c>production</c> unless <c>?alias=</c>) points at; inference replicas follow the alias.
/// <c>GET /api/deployments</c>: which version each inference replica serves, next to what the registry says.
/// </summary>
public static class DeploymentsApi
{
    public static IEndpointRouteBuilder MapDeploymentsApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/deploy").WithTags("Models").AddEndpointFilter<ApiProblems>()
            .MapPost("/{jobId}", Deploy).WithName("DeployJob").RequireScope(ApiScopes.Train)
            .WithSummary("Deploy a succeeded job's model: register it if needed and move the alias (production, or ?alias=) to its version; ?force=true overrides the evaluation gate.");
        app.MapGet("/api/deployments", List).WithTags("Models").AddEndpointFilter<ApiProblems>().WithName("ListDeployments").RequireScope(ApiScopes.Read)
            .WithSummary("The aliases inference follows, the version the registry gives each, and the version every live replica serves.");
        return app;
    }

    private static async Task<Ok<DeploymentDto>> Deploy(
        string jobId, HttpContext http, PlatformDbContext db, ModelRegistry registry, ArtifactStore artifacts, Deployments deployments,
        CancellationToken ct, string? alias = null, string? reason = null, bool force = false)
    {
        alias ??= ModelRegistry.ProductionAlias;
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
        var (move, gate) = await deployments.MoveAsync(version.Model!.Name, alias, version.Version, caller, reason ?? $"deploy of job {jobId}", force, ct);
        return TypedResults.Ok(new DeploymentDto(jobId, version.Model.Name, alias, version.Version, move.FromVersion, version.ArtifactPrefix, caller, move.MovedAt, gate));
    }

    private static async Task<Ok<DeploymentsDto>> List(PlatformDbContext db, InferenceReplicas inference, CancellationToken ct)
    {
        var replicas = await inference.ListAsync();
        // The aliases the running replicas follow, and production, which a replica follows by default, when none runs.
        var followed = replicas.Select(r => r.Alias).OfType<string>().Append(ModelRegistry.ProductionAlias).Distinct().ToList();
        var pointers = await (
            from a in db.ModelAliases.AsNoTracking()
            join m in db.Models on a.ModelId equals m.Id
            join v in db.ModelVersions on a.VersionId equals v.Id
            where followed.Contains(a.Alias)
            orderby m.Name, a.Alias
            select new { Model = m.Name, a.Alias, v.Version, a.UpdatedAt }).ToListAsync(ct);
        var states = pointers.Select(p =>
        {
            var serving = replicas.Where(r => r.Alias == p.Alias)
                .Select(r => (r.Replica, Model: r.Models.FirstOrDefault(m => m.Name == p.Model)))
                .Select(r => new ReplicaVersionDto(r.Replica, r.Model?.Version, r.Model?.State ?? "absent", r.Model?.LoadedAt, r.Model?.Error))
                .ToList();
            var converged = serving.Count > 0 && serving.All(r => r.Version == p.Version && r.State == "ready");
            return new DeploymentStateDto(p.Model, p.Alias, p.Version, p.UpdatedAt, serving, converged);
        }).ToList();
        return TypedResults.Ok(new DeploymentsDto("list", states, replicas));
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
