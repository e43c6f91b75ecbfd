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

public sealed record JobDeletedDto(string Id, string Object, bool Deleted);

/// <summary>
/// Fine-tuning jobs under <c>/api/jobs</c>: create (the seed's body or the full one), list, get, cancel, delete;
/// what a job recorded (events, checkpoints, metric series, comparisons) is in JobsApi.Records.cs, the live
/// stream in <see cref="JobStream"/>, evaluations in <see cref="EvaluationsApi"/>.
/// </summary>
public static partial class JobsApi
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
        api.MapGet("/{id}/evaluations", EvaluationsApi.ListForJob).WithName("ListJobEvaluations").RequireScope(ApiScopes.Read)
            .WithSummary("The evaluations of the job's model, newest first: queued, running, or with their metrics.");
        api.MapPost("/{id}/evaluate", EvaluationsApi.EvaluateJob).WithName("EvaluateJob").RequireScope(ApiScopes.Train)
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
}
