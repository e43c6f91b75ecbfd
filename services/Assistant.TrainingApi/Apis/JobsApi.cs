using System.Text.Json;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Storage;
using Assistant.TrainingApi.Jobs;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record JobEventDto(long Id, string Object, string Level, string Type, string Message, JsonElement? Data, DateTimeOffset CreatedAt);

public sealed record CheckpointDto(
    Guid Id, string Object, string FineTuningJobId, int StepNumber, JsonElement Metrics, string ObjectPrefix, bool IsBest,
    string FineTunedModelCheckpoint, DateTimeOffset CreatedAt);

public sealed record MetricSeriesDto(IReadOnlyList<int> Steps, IReadOnlyList<double?> Values);

public sealed record JobMetricsDto(string JobId, IReadOnlyDictionary<string, MetricSeriesDto> Series);

/// <summary>One metric of several jobs on shared steps: <c>series[job][i]</c> is the job's value at <c>steps[i]</c> (null where it has none).</summary>
public sealed record AlignedSeriesDto(IReadOnlyList<int> Steps, IReadOnlyDictionary<string, IReadOnlyList<double?>> Series);

public sealed record JobComparisonDto(
    IReadOnlyList<string> Jobs, IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> Hyperparameters,
    IReadOnlyDictionary<string, AlignedSeriesDto> Metrics);

public sealed record JobDeletedDto(string Id, string Object, bool Deleted);

/// <summary>
/// Fine-tuning jobs under <c>/api/jobs</c>: create (the seed's body or the full one), list, get, cancel, delete,
/// and what a job leaves behind (events, checkpoints, metric series, comparisons, evaluations, a live stream).
/// </summary>
public static class JobsApi
{
    private static readonly string[] ActiveStatuses = [JobStatus.ValidatingFiles, JobStatus.Queued, JobStatus.Running];

    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/jobs").WithTags("Jobs").AddEndpointFilter<ApiProblems>();

        api.MapPost("/", Create).WithName("CreateJob").RequireScope(ApiScopes.Train)
            .WithSummary("Create a fine-tuning job from the seed's body (model_name, dataset_path, ...) or the full one (base_model, method, training_data or split, hyperparameters). Everything is resolved now; the job is validated and queued.")
            .Produces<JobDto>(StatusCodes.Status201Created).ProducesValidationProblem();
        api.MapGet("/", List).WithName("ListJobs").RequireScope(ApiScopes.Read)
            .WithSummary("Jobs, newest first; ?status= filters, ?limit= and ?after=<job id> page.");
        api.MapGet("/compare", Compare).WithName("CompareJobs").RequireScope(ApiScopes.Read)
            .WithSummary("Hyperparameters that differ between jobs (?ids=a,b) and their metric series aligned by step.");
        api.MapGet("/{id}", Get).WithName("GetJob").RequireScope(ApiScopes.Read).WithSummary("One job.");
        api.MapPost("/{id}/cancel", Cancel).WithName("CancelJob").RequireScope(ApiScopes.Train)
            .WithSummary("Cancel a job: at once when not running yet, within one optimizer step when running; 409 when it already finished.");
        api.MapDelete("/{id}", Delete).WithName("DeleteJob").RequireScope(ApiScopes.Train)
            .WithSummary("Delete a finished job with its events, metrics, checkpoints (rows and objects); registered model versions stay. 409 while it is queued or running.");
        api.MapGet("/{id}/events", Events).WithName("ListJobEvents").RequireScope(ApiScopes.Read)
            .WithSummary("The job's events, newest first; ?limit= and ?after=<event id> page.");
        api.MapGet("/{id}/checkpoints", Checkpoints).WithName("ListJobCheckpoints").RequireScope(ApiScopes.Read)
            .WithSummary("The job's checkpoints with their metrics, newest first.");
        api.MapGet("/{id}/metrics", Metrics).WithName("GetJobMetrics").RequireScope(ApiScopes.Read)
            .WithSummary("Metric series (steps and values) per key; ?keys=a,b selects, ?from_step= starts later.");
        api.MapGet("/{id}/stream", JobStream.StreamAsync).WithName("StreamJob").RequireScope(ApiScopes.Read)
            .WithSummary("Server-sent events: the job's status, then its live updates until it finishes.");
        api.MapPost("/{id}/evaluate", Evaluate).WithName("EvaluateJob").RequireScope(ApiScopes.Train)
            .WithSummary("Score a succeeded job's model on a dataset version ({dataset} or the seed's {test_dataset}); a worker runs it.")
            .Produces<EvaluationDto>(StatusCodes.Status202Accepted);
        return app;
    }

    private static async Task<Created<JobDto>> Create(
        HttpContext http, JobPlanner planner, JobSubmitter submitter, PlatformDbContext db, CancellationToken ct)
    {
        var request = JobRequest.Parse(await RequestBody.ReadObjectAsync(http.Request, ct));
        var planned = await planner.PlanAsync([request], Caller.Of(http), groupId: null, ct);
        await submitter.SubmitAsync(planned, group: null, ct);
        var job = await JobViews.FindAsync(db, planned[0].Job.Id, ct);
        return TypedResults.Created($"/api/jobs/{job.Id}", await JobViews.ToDtoAsync(db, job, ct));
    }

    private static async Task<Ok<ListDto<JobDto>>> List(PlatformDbContext db, CancellationToken ct, string? status = null, string? limit = null, string? after = null)
    {
        var pageSize = Query.Int(limit, "limit", fallback: 20, minimum: 1, maximum: 100);
        var jobs = db.Jobs.AsNoTracking();
        if (status is not null)
        {
            if (!JobStatus.All.Contains(status))
            {
                throw ApiProblem.Invalid("status", $"'{status}' is not a job status: use {string.Join(", ", JobStatus.All)}.");
            }
            jobs = jobs.Where(j => j.Status == status);
        }
        if (after is not null)
        {
            var cursor = await db.Jobs.AsNoTracking().Where(j => j.Id == after).Select(j => new { j.CreatedAt }).FirstOrDefaultAsync(ct)
                ?? throw ApiProblem.Invalid("after", $"Job '{after}' was not found; 'after' is the id of the last job of the previous page.");
            jobs = jobs.Where(j => j.CreatedAt < cursor.CreatedAt || (j.CreatedAt == cursor.CreatedAt && string.Compare(j.Id, after) < 0));
        }
        var page = await jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Take(pageSize + 1).ToListAsync(ct);
        var dtos = await JobViews.ToDtosAsync(db, page.Take(pageSize).ToList(), ct);
        return TypedResults.Ok(new ListDto<JobDto>(dtos, page.Count > pageSize));
    }

    private static async Task<Ok<JobDto>> Get(string id, PlatformDbContext db, CancellationToken ct) =>
        TypedResults.Ok(await JobViews.ToDtoAsync(db, await JobViews.FindAsync(db, id, ct), ct));

    private static async Task<Ok<JobDto>> Cancel(string id, PlatformDbContext db, JobQueue queue, CancellationToken ct)
    {
        var job = await JobViews.FindAsync(db, id, ct);
        if (await queue.CancelAsync(db, id, ct) is null)
        {
            throw ApiProblem.Conflict("status", $"Job {id} is already {job.Status}; there is nothing to cancel.");
        }
        db.JobEvents.Add(new JobEvent { JobId = id, Level = EventLevel.Info, Type = "status", Message = "Cancellation requested.", CreatedAt = DateTimeOffset.UtcNow });
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(await JobViews.ToDtoAsync(db, await JobViews.FindAsync(db, id, ct), ct));
    }

    private static async Task<Ok<JobDeletedDto>> Delete(
        string id, PlatformDbContext db, ArtifactStore artifacts, ILoggerFactory loggers, CancellationToken ct)
    {
        var job = await JobViews.FindAsync(db, id, ct);
        if (ActiveStatuses.Contains(job.Status))
        {
            throw ApiProblem.Conflict("status", $"Job {id} is {job.Status}; cancel it first, then delete it.");
        }
        if (await db.Evaluations.AnyAsync(e => e.JobId == id && (e.Status == EvaluationStatus.Queued || e.Status == EvaluationStatus.Running), ct))
        {
            throw ApiProblem.Conflict("status", $"An evaluation of job {id} is still running; delete the job when it has finished.");
        }
        var checkpointPrefixes = await db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == id).Select(c => c.ObjectPrefix).ToListAsync(ct);
        var modelPrefixes = await db.ModelVersions.AsNoTracking().Where(v => v.JobId == id).Select(v => v.ArtifactPrefix).ToListAsync(ct);

        // Rows first, in one transaction (a conditional delete, so a job re-queued meanwhile survives); objects after,
        // because an object left behind is garbage while a row pointing at a deleted object is a broken job.
        await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            var evaluations = await db.Evaluations.Where(e => e.JobId == id).Select(e => e.Id).ToListAsync(ct);
            await db.DatasetVersionUsages
                .Where(u => (u.UsedByKind == JobSubmitter.UsedByJob && u.UsedById == id) || (u.UsedByKind == EvaluationsApi.UsedByEvaluation && evaluations.Contains(u.UsedById)))
                .ExecuteDeleteAsync(ct);
            await db.Evaluations.Where(e => e.JobId == id).ExecuteDeleteAsync(ct);
            if (await db.Jobs.Where(j => j.Id == id && !ActiveStatuses.Contains(j.Status)).ExecuteDeleteAsync(ct) == 0)
            {
                throw ApiProblem.Conflict("status", $"Job {id} changed state while being deleted; try again.");
            }
            await transaction.CommitAsync(ct);
        });

        var logger = loggers.CreateLogger(typeof(JobsApi));
        foreach (var prefix in checkpointPrefixes.Where(p => !modelPrefixes.Any(m => m.StartsWith(p, StringComparison.Ordinal) || p.StartsWith(m, StringComparison.Ordinal))))
        {
            try
            {
                await artifacts.DeletePrefixAsync(prefix, ct);
            }
            catch (Exception ex) when (ex is Amazon.Runtime.AmazonServiceException or HttpRequestException or IOException)
            {
                logger.LogWarning(ex, "Checkpoint objects under {Prefix} of deleted job {JobId} were left behind", prefix, id);
            }
        }
        return TypedResults.Ok(new JobDeletedDto(id, "fine_tuning.job", true));
    }

    private static async Task<Ok<ListDto<JobEventDto>>> Events(string id, PlatformDbContext db, CancellationToken ct, string? limit = null, string? after = null)
    {
        await JobViews.FindAsync(db, id, ct);
        var pageSize = Query.Int(limit, "limit", fallback: 20, minimum: 1, maximum: 1000);
        var events = db.JobEvents.AsNoTracking().Where(e => e.JobId == id);
        if (after is not null)
        {
            var cursor = long.TryParse(after, out var eventId) ? eventId : throw ApiProblem.Invalid("after", "after is the id of the last event of the previous page.");
            events = events.Where(e => e.Id < cursor);
        }
        var page = await events.OrderByDescending(e => e.Id).Take(pageSize + 1).ToListAsync(ct);
        var dtos = page.Take(pageSize).Select(e => new JobEventDto(e.Id, "fine_tuning.job.event", e.Level, e.Type, e.Message,
            e.Data is null ? null : JobDto.Json(e.Data), e.CreatedAt)).ToList();
        return TypedResults.Ok(new ListDto<JobEventDto>(dtos, page.Count > pageSize));
    }

    private static async Task<Ok<ListDto<CheckpointDto>>> Checkpoints(string id, PlatformDbContext db, CancellationToken ct)
    {
        var job = await JobViews.FindAsync(db, id, ct);
        var checkpoints = await db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == id).OrderByDescending(c => c.Step).ToListAsync(ct);
        var name = $"ft:{job.BaseModel}:{job.Suffix ?? ""}:{job.Id}";
        return TypedResults.Ok(new ListDto<CheckpointDto>(checkpoints.Select(c => new CheckpointDto(
            c.Id, "fine_tuning.job.checkpoint", id, c.Step, JobDto.Json(c.Metrics), c.ObjectPrefix, c.IsBest,
            $"{name}:ckpt-step-{c.Step}", c.CreatedAt)).ToList(), HasMore: false));
    }

    private static async Task<Ok<JobMetricsDto>> Metrics(string id, PlatformDbContext db, CancellationToken ct, string? keys = null, string? from_step = null)
    {
        await JobViews.FindAsync(db, id, ct);
        var selected = Query.List(keys);
        var fromStep = Query.Int(from_step, "from_step", fallback: 0, minimum: 0, maximum: int.MaxValue);
        var metrics = db.JobMetrics.AsNoTracking().Where(m => m.JobId == id && m.Step >= fromStep);
        if (selected.Length > 0)
        {
            metrics = metrics.Where(m => selected.Contains(m.Key));
        }
        var points = await metrics.OrderBy(m => m.Key).ThenBy(m => m.Step).Select(m => new { m.Key, m.Step, m.Value }).ToListAsync(ct);
        var series = points.GroupBy(p => p.Key).ToDictionary(g => g.Key,
            g => new MetricSeriesDto(g.Select(p => p.Step).ToList(), g.Select(p => Finite(p.Value)).ToList()));
        return TypedResults.Ok(new JobMetricsDto(id, series));
    }

    private static async Task<Ok<JobComparisonDto>> Compare(PlatformDbContext db, CancellationToken ct, string? ids = null, string? keys = null)
    {
        var jobIds = Query.List(ids).Distinct().ToList();
        if (jobIds.Count is < 2 or > 10)
        {
            throw ApiProblem.Invalid("ids", "Give 2 to 10 job ids to compare: ?ids=ftjob-a,ftjob-b.");
        }
        var jobs = await db.Jobs.AsNoTracking().Where(j => jobIds.Contains(j.Id)).ToDictionaryAsync(j => j.Id, ct);
        if (jobIds.FirstOrDefault(j => !jobs.ContainsKey(j)) is { } missing)
        {
            throw ApiProblem.NotFound("ids", $"Job '{missing}' was not found.");
        }

        // What was chosen per job: the config plus the choices outside it; only the keys where jobs differ are shown.
        var settings = jobIds.ToDictionary(id => id, id =>
        {
            var job = jobs[id];
            var values = JobDto.Json(job.Hyperparameters).EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            values["base_model"] = JsonSerializer.SerializeToElement(job.BaseModel);
            values["datasets"] = JobDto.Json(job.DatasetRefs);
            return values;
        });
        var differing = new SortedDictionary<string, IReadOnlyDictionary<string, JsonElement>>(StringComparer.Ordinal);
        foreach (var key in settings.Values.SelectMany(s => s.Keys).Distinct())
        {
            var byJob = jobIds.ToDictionary(id => id, id => settings[id].TryGetValue(key, out var value) ? value : NullElement);
            if (byJob.Values.Distinct(JsonElementComparer.Instance).Count() > 1)
            {
                differing[key] = byJob;
            }
        }

        var selected = Query.List(keys);
        var metrics = db.JobMetrics.AsNoTracking().Where(m => jobIds.Contains(m.JobId));
        if (selected.Length > 0)
        {
            metrics = metrics.Where(m => selected.Contains(m.Key));
        }
        var points = await metrics.Select(m => new { m.JobId, m.Key, m.Step, m.Value }).ToListAsync(ct);
        var aligned = new SortedDictionary<string, AlignedSeriesDto>(StringComparer.Ordinal);
        foreach (var byKey in points.GroupBy(p => p.Key))
        {
            var steps = byKey.Select(p => p.Step).Distinct().Order().ToList();
            var index = steps.Select((step, i) => (step, i)).ToDictionary(x => x.step, x => x.i);
            var values = jobIds.ToDictionary(id => id, _ => new double?[steps.Count]);
            foreach (var p in byKey)
            {
                values[p.JobId][index[p.Step]] = Finite(p.Value);
            }
            aligned[byKey.Key] = new AlignedSeriesDto(steps, values.ToDictionary(v => v.Key, v => (IReadOnlyList<double?>)v.Value));
        }
        return TypedResults.Ok(new JobComparisonDto(jobIds, differing, aligned));
    }

    private sealed record EvaluateRequest(string? Dataset, string? TestDataset, string? JobId);

    private static async Task<Accepted<EvaluationDto>> Evaluate(
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
            DatasetVersionId = version.Id, UsedByKind = EvaluationsApi.UsedByEvaluation, UsedById = evaluation.Id, CreatedAt = evaluation.CreatedAt,
        });
        await db.SaveChangesAsync(ct);
        await queue.EnqueueAsync(WorkKind.Evaluation, evaluation.Id);
        return TypedResults.Accepted($"/api/evaluations/{evaluation.Id}", await EvaluationsApi.ToDtoAsync(db, evaluation, ct));
    }

    private static readonly JsonElement NullElement = JsonSerializer.SerializeToElement<object?>(null);

    /// <summary>JSON has no NaN or infinity: a diverged value is a gap in the series.</summary>
    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private sealed class JsonElementComparer : IEqualityComparer<JsonElement>
    {
        public static JsonElementComparer Instance { get; } = new();
        public bool Equals(JsonElement x, JsonElement y) => JsonElement.DeepEquals(x, y);
        public int GetHashCode(JsonElement obj) => obj.ValueKind.GetHashCode();
    }
}
