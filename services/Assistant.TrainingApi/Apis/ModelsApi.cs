using System.Text.Json;
using Assistant.Modeling.Training;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Registry;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Assistant.TrainingApi.Apis;

public sealed record ModelSummaryDto(string Name, string Kind, string? Description, int? LatestVersion, IReadOnlyDictionary<string, int> Aliases, DateTimeOffset CreatedAt);

public sealed record ArtifactDto(string Bucket, string Prefix, string Uri);

public sealed record ModelVersionDto(
    Guid Id, int Version, string Ref, string Source, string? JobId, ModelRefDto? BaseModel, JsonElement Datasets, JsonElement? Hyperparameters,
    JsonElement Metrics, string Architecture, long Parameters, string PlatformVersion, ArtifactDto Artifact, IReadOnlyList<string> Aliases,
    string? Description, string CreatedBy, DateTimeOffset CreatedAt);

public sealed record AliasMoveDto(string Alias, int? FromVersion, int? ToVersion, string MovedBy, string? Reason, DateTimeOffset MovedAt);

public sealed record ModelDto(
    string Name, string Kind, string? Description, DateTimeOffset CreatedAt, IReadOnlyList<ModelVersionDto> Versions,
    IReadOnlyDictionary<string, int> Aliases, IReadOnlyList<AliasMoveDto> AliasHistory);

public sealed record AliasRequest(int? Version, string? Reason, bool? Force);

/// <summary>An alias move and what the deployment gate said about it.</summary>
public sealed record AliasMoveResultDto(string Alias, int? FromVersion, int? ToVersion, string MovedBy, string? Reason, DateTimeOffset MovedAt, GateResult Gate);

public sealed record ImportPathRequest(string? Path, string? Name, string? Description);

public sealed record RegisterCheckpointRequest(string? JobId, int? Step, string? Description);

/// <summary>
/// The model registry under <c>/api/models</c>: models with their versions and lineage, aliases and their history,
/// and imports of Hugging Face folders as base models. Alias changes are announced to inference replicas.
/// </summary>
public static class ModelsApi
{
    public static IEndpointRouteBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/models").WithTags("Models").AddEndpointFilter<ApiProblems>();
        api.MapGet("/", List).WithName("ListModels").RequireScope(ApiScopes.Read)
            .WithSummary("Registered models with their latest version and aliases.");
        api.MapPost("/import", Import).DisableAntiforgery().WithName("ImportModel").RequireScope(ApiScopes.Admin)
            .WithSummary("Import a Hugging Face folder as a base model: multipart (fields name, description; files config.json, *.safetensors [+ index], tokenizer files) or {path, name} of a folder the server can read.")
            .Produces<ModelVersionDto>(StatusCodes.Status201Created).ProducesValidationProblem();
        api.MapGet("/{name}", Get).WithName("GetModel").RequireScope(ApiScopes.Read)
            .WithSummary("A model's versions with lineage (job, datasets, base model, hyperparameters, metrics, platform version, artifact), aliases and alias history.");
        api.MapPut("/{name}/aliases/{alias}", MoveAlias).WithName("MoveModelAlias").RequireScope(ApiScopes.Train)
            .WithSummary("Point an alias at a version ({version, reason, force}); the move is recorded. Moving production to a version that evaluates worse than the current one is refused unless force.");
        api.MapPost("/{name}/versions", RegisterCheckpoint).WithName("RegisterCheckpoint").RequireScope(ApiScopes.Train)
            .WithSummary("Register a finished full fine-tune's checkpoint ({job_id, step, description}) as the next version of model {name}, e.g. its best one; the weights are copied, so the version outlives the job.")
            .Produces<ModelVersionDto>(StatusCodes.Status201Created).ProducesValidationProblem();
        api.MapDelete("/{name}/aliases/{alias}", DeleteAlias).WithName("DeleteModelAlias").RequireScope(ApiScopes.Train)
            .WithSummary("Remove an alias (?reason=); the removal is recorded.");
        return app;
    }

    private static async Task<Ok<ListDto<ModelSummaryDto>>> List(PlatformDbContext db, CancellationToken ct)
    {
        var models = await db.Models.AsNoTracking().OrderBy(m => m.Name)
            .Select(m => new
            {
                Model = m,
                Latest = m.Versions.Max(v => (int?)v.Version),
                Aliases = m.Aliases.Join(db.ModelVersions, a => a.VersionId, v => v.Id, (a, v) => new { a.Alias, v.Version }).ToList(),
            })
            .ToListAsync(ct);
        return TypedResults.Ok(new ListDto<ModelSummaryDto>(models.Select(m => new ModelSummaryDto(m.Model.Name, m.Model.Kind, m.Model.Description,
            m.Latest, m.Aliases.ToDictionary(a => a.Alias, a => a.Version), m.Model.CreatedAt)).ToList(), HasMore: false));
    }

    private static async Task<Ok<ModelDto>> Get(string name, PlatformDbContext db, ArtifactStore artifacts, CancellationToken ct) =>
        TypedResults.Ok(await LoadAsync(name, db, artifacts, ct));

    private static async Task<ModelDto> LoadAsync(string name, PlatformDbContext db, ArtifactStore artifacts, CancellationToken ct)
    {
        var model = await db.Models.AsNoTracking().Include(m => m.Versions).Include(m => m.Aliases).AsSplitQuery()
            .FirstOrDefaultAsync(m => m.Name == name, ct)
            ?? throw ApiProblem.NotFound("name", $"No registered model is named '{name}'.");
        var baseIds = model.Versions.Where(v => v.BaseModelVersionId is not null).Select(v => v.BaseModelVersionId!.Value).Distinct().ToList();
        var bases = await db.ModelVersions.AsNoTracking().Where(v => baseIds.Contains(v.Id))
            .Select(v => new { v.Id, v.Model!.Name, v.Version }).ToDictionaryAsync(v => v.Id, v => new ModelRefDto(v.Name, v.Version), ct);
        var history = await db.AliasMoves.AsNoTracking().Where(m => m.ModelId == model.Id).OrderByDescending(m => m.MovedAt).ThenByDescending(m => m.Id).ToListAsync(ct);

        var numbers = model.Versions.ToDictionary(v => v.Id, v => v.Version);
        var aliases = model.Aliases.Where(a => numbers.ContainsKey(a.VersionId)).ToDictionary(a => a.Alias, a => numbers[a.VersionId]);
        var versions = model.Versions.OrderByDescending(v => v.Version).Select(v => new ModelVersionDto(
            v.Id, v.Version, $"{model.Name}@{v.Version}", v.Source, v.JobId,
            v.BaseModelVersionId is { } baseId ? bases.GetValueOrDefault(baseId) : null,
            JobDto.Json(v.DatasetVersions), v.Hyperparameters is null ? null : JobDto.Json(v.Hyperparameters), JobDto.Json(v.Metrics),
            v.Architecture, v.Parameters, v.PlatformVersion, new ArtifactDto(artifacts.Bucket, v.ArtifactPrefix, $"s3://{artifacts.Bucket}/{v.ArtifactPrefix}"),
            aliases.Where(a => a.Value == v.Version).Select(a => a.Key).Order().ToList(), v.Description, v.CreatedBy, v.CreatedAt)).ToList();
        return new ModelDto(model.Name, model.Kind, model.Description, model.CreatedAt, versions, aliases,
            history.Select(m => new AliasMoveDto(m.Alias, m.FromVersion, m.ToVersion, m.MovedBy, m.Reason, m.MovedAt)).ToList());
    }

    private static async Task<Created<ModelVersionDto>> RegisterCheckpoint(
        string name, HttpContext http, PlatformDbContext db, ModelRegistry registry, ArtifactStore artifacts, CancellationToken ct)
    {
        var request = await RequestBody.ReadAsync<RegisterCheckpointRequest>(http.Request, ct);
        if (!ModelRegistry.IsValidName(name))
        {
            throw ApiProblem.Invalid("name", $"'{name}' is not a model name: use {ModelRegistry.NameRule}.");
        }
        if (string.IsNullOrWhiteSpace(request.JobId))
        {
            throw ApiProblem.Invalid("job_id", "job_id names the job whose checkpoint to register.");
        }
        if (request.Step is not ({ } step and >= 0))
        {
            throw ApiProblem.Invalid("step", "step is the step number of one of the job's checkpoints.");
        }
        if (request.Description is { Length: > 2000 })
        {
            throw ApiProblem.Invalid("description", "The description is longer than 2000 characters.");
        }
        var job = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == request.JobId, ct)
            ?? throw ApiProblem.NotFound("job_id", $"Job '{request.JobId}' was not found.");
        if (job.Status is not (JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled))
        {
            throw ApiProblem.Conflict("job_id", $"Job {job.Id} is {job.Status}; register its checkpoints once it has finished.");
        }
        if (job.Method == "lora")
        {
            throw ApiProblem.Conflict("job_id", $"Job {job.Id} trained LoRA adapters: its checkpoints hold only the adapters, not a model to serve.");
        }
        var checkpoint = await db.JobCheckpoints.AsNoTracking().FirstOrDefaultAsync(c => c.JobId == job.Id && c.Step == step, ct)
            ?? throw ApiProblem.NotFound("step", $"Job {job.Id} has no checkpoint at step {step}; GET /api/jobs/{job.Id}/checkpoints lists them.");
        if (await db.Models.AsNoTracking().FirstOrDefaultAsync(m => m.Name == name, ct) is { Kind: ModelKind.Base })
        {
            throw ApiProblem.Conflict("name", $"'{name}' is a base model; register the checkpoint under a trained model's name.");
        }

        // The model's own copy of the weights: the job's checkpoints go when the job is deleted.
        var prefix = $"models/{name}/{Guid.NewGuid():N}/";
        var copied = 0;
        foreach (var (key, _) in await artifacts.ListAsync(checkpoint.ObjectPrefix, ct))
        {
            var file = key[checkpoint.ObjectPrefix.Length..];
            if (CheckpointFiles.TrainingState.Contains(file))
            {
                continue;
            }
            await using var content = await artifacts.OpenReadAsync(key, ct);
            await artifacts.PutAsync(prefix + file, content, ct: ct);
            copied++;
        }
        if (copied == 0)
        {
            throw ApiProblem.Conflict("step", $"The files of job {job.Id}'s checkpoint at step {step} are no longer in storage.");
        }
        var version = await registry.RegisterCheckpointVersionAsync(job, step, name, prefix, checkpoint.Metrics, request.Description, Caller.Of(http), ct);
        var dto = (await LoadAsync(name, db, artifacts, ct)).Versions.Single(v => v.Version == version.Version);
        return TypedResults.Created($"/api/models/{name}", dto);
    }

    private static async Task<Ok<AliasMoveResultDto>> MoveAlias(
        string name, string alias, HttpContext http, Deployments deployments, CancellationToken ct)
    {
        var request = await RequestBody.ReadAsync<AliasRequest>(http.Request, ct);
        if (request.Version is not ({ } version and >= 1))
        {
            throw ApiProblem.Invalid("version", "version must be the version number to point the alias at (1 or more).");
        }
        if (request.Reason is { Length: > 2000 })
        {
            throw ApiProblem.Invalid("reason", "The reason is longer than 2000 characters.");
        }
        var (move, gate) = await deployments.MoveAsync(name, alias, version, Caller.Of(http), request.Reason, request.Force ?? false, ct);
        return TypedResults.Ok(new AliasMoveResultDto(move.Alias, move.FromVersion, move.ToVersion, move.MovedBy, move.Reason, move.MovedAt, gate));
    }

    private static async Task<NoContent> DeleteAlias(
        string name, string alias, HttpContext http, Deployments deployments, CancellationToken ct, string? reason = null)
    {
        await deployments.RemoveAsync(name, alias, Caller.Of(http), reason, ct);
        return TypedResults.NoContent();
    }

    private static async Task<Created<ModelVersionDto>> Import(
        HttpContext http, ModelImporter importer, PlatformDbContext db, ArtifactStore artifacts, IOptions<DatasetOptions> options, CancellationToken ct)
    {
        ModelVersion version;
        if (MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var contentType)
            && contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            // Weights are large: lift the server's default body limit for this request only.
            if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = options.Value.MaxUploadBytes;
            }
            var folder = Path.Combine(options.Value.StagingDirectory, $"model-{Guid.NewGuid():N}");
            Directory.CreateDirectory(folder);
            try
            {
                var fields = await ReceiveFolderAsync(http.Request, contentType, folder, ct);
                version = await importer.ImportAsync(folder, fields.GetValueOrDefault("name") ?? throw ApiProblem.Invalid("name", "Name the model (field 'name')."),
                    fields.GetValueOrDefault("description"), Caller.Of(http), "files", ct);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        else
        {
            var request = await RequestBody.ReadAsync<ImportPathRequest>(http.Request, ct);
            if (request.Path is not { Length: > 0 } path || !System.IO.Path.IsPathFullyQualified(path) || !Directory.Exists(path))
            {
                throw ApiProblem.Invalid("path", "path must be the absolute path of a folder the server can read.");
            }
            version = await importer.ImportAsync(path, request.Name ?? throw ApiProblem.Invalid("name", "Name the model."), request.Description,
                Caller.Of(http), "path", ct);
        }
        var model = await LoadAsync(version.Model!.Name, db, artifacts, ct);
        return TypedResults.Created($"/api/models/{model.Name}", model.Versions.First(v => v.Id == version.Id));
    }

    /// <summary>Writes the multipart's files into <paramref name="folder"/> (flat, safe names only) and returns its text fields.</summary>
    private static async Task<Dictionary<string, string>> ReceiveFolderAsync(HttpRequest request, MediaTypeHeaderValue contentType, string folder, CancellationToken ct)
    {
        const int mostFiles = 64;
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value ?? throw ApiProblem.Invalid("Content-Type", "The multipart body has no boundary.");
        var reader = new MultipartReader(boundary, request.Body);
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var files = 0;
        while (await reader.ReadNextSectionAsync(ct) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
            {
                continue;
            }
            if (disposition.IsFileDisposition())
            {
                var name = HeaderUtilities.RemoveQuotes(disposition.FileName).Value ?? "";
                if (!ModelImporter.IsSafeFileName(name))
                {
                    throw ApiProblem.Invalid("files", $"'{name}' is not a plain file name (letters, digits, '.', '_', '-'; no folders).");
                }
                var path = Path.Combine(folder, name);
                if (File.Exists(path))
                {
                    throw ApiProblem.Invalid("files", $"'{name}' is sent twice.");
                }
                if (++files > mostFiles)
                {
                    throw ApiProblem.Invalid("files", $"A model folder has at most {mostFiles} files.");
                }
                await using var file = File.Create(path);
                await section.Body.CopyToAsync(file, ct);
            }
            else if (HeaderUtilities.RemoveQuotes(disposition.Name).Value is { } field)
            {
                using var text = new StreamReader(section.Body);
                fields[field] = await text.ReadToEndAsync(ct);
            }
        }
        return fields;
    }
}
