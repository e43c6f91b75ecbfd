using System.Text.Json;
using Assistant.Platform.Datasets;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Jobs;

/// <summary>
/// Stores planned jobs and moves each through <c>validating_files</c>: to <c>queued</c> (and onto the trainers'
/// stream) when its data suits its method, to <c>failed</c> with <c>invalid_training_file</c> when not.
/// </summary>
public sealed class JobSubmitter(PlatformDbContext db, JobQueue queue, ILogger<JobSubmitter> logger)
{
    public const string UsedByJob = "job";

    /// <summary>Stores every job (and the group) in one transaction, then validates and enqueues each.</summary>
    public async Task SubmitAsync(IReadOnlyList<PlannedJob> jobs, JobGroup? group, CancellationToken ct)
    {
        if (group is not null)
        {
            db.JobGroups.Add(group);
        }
        foreach (var (job, data) in jobs)
        {
            db.Jobs.Add(job);
            // A used version cannot be deleted: record every version the job reads, once.
            foreach (var versionId in data.Select(d => d.Version.Id).Distinct())
            {
                db.DatasetVersionUsages.Add(new DatasetVersionUsage { DatasetVersionId = versionId, UsedByKind = UsedByJob, UsedById = job.Id, CreatedAt = job.CreatedAt });
            }
            db.JobEvents.Add(Event(job.Id, EventLevel.Info, $"Created fine-tuning job {job.Id} on {job.BaseModel} ({job.Method})."));
        }
        await db.SaveChangesAsync(ct);
        // From here each state change is a conditional update (a cancel may race us), never a tracked save.
        db.ChangeTracker.Clear();

        foreach (var planned in jobs)
        {
            await ValidateFilesAsync(planned, ct);
        }
    }

    /// <summary>
    /// Finishes jobs left in <c>validating_files</c> longer than <paramref name="olderThan"/>: the API stopped between
    /// storing them and queueing them. Validation is a conditional update, so a job validated twice is queued once.
    /// </summary>
    public async Task<int> ResumeValidationAsync(TimeSpan olderThan, CancellationToken ct)
    {
        var cutoff = DateTimeOffset.UtcNow - olderThan;
        var stale = await db.Jobs.AsNoTracking().Where(j => j.Status == JobStatus.ValidatingFiles && j.CreatedAt < cutoff)
            .OrderBy(j => j.CreatedAt).Take(100).ToListAsync(ct);
        foreach (var job in stale)
        {
            await ValidateFilesAsync(new PlannedJob(job, await DataOfAsync(job, ct)), ct);
        }
        return stale.Count;
    }

    /// <summary>The data a stored job reads, as planning described it.</summary>
    private async Task<List<JobData>> DataOfAsync(TrainingJob job, CancellationToken ct)
    {
        var split = job.DatasetSplitId is { } splitId ? await db.DatasetSplits.AsNoTracking().FirstOrDefaultAsync(s => s.Id == splitId, ct) : null;
        var references = JsonSerializer.Deserialize<Dictionary<string, string>>(job.DatasetRefs) ?? [];
        var parts = new (string Role, string Field, Guid? VersionId, long? SplitExamples)[]
        {
            ("train", "training_data", job.TrainDatasetVersionId, split?.TrainExamples),
            ("validation", "validation_data", job.ValidationDatasetVersionId, split?.ValidationExamples),
            ("test", "test_data", job.TestDatasetVersionId, split?.TestExamples),
        };
        var ids = parts.Where(p => p.VersionId is not null).Select(p => p.VersionId!.Value).Distinct().ToList();
        var versions = await db.DatasetVersions.AsNoTracking().Include(v => v.Dataset).Where(v => ids.Contains(v.Id)).ToDictionaryAsync(v => v.Id, ct);
        return parts.Where(p => p.VersionId is { } id && versions.ContainsKey(id))
            .Select(p =>
            {
                var version = versions[p.VersionId!.Value];
                return new JobData(p.Role, split is null ? p.Field : "split.dataset",
                    references.GetValueOrDefault(p.Role) ?? $"{version.Dataset!.Name}@{version.Version}", version, p.SplitExamples ?? version.Examples);
            })
            .ToList();
    }

    private async Task ValidateFilesAsync(PlannedJob planned, CancellationToken ct)
    {
        var id = planned.Job.Id;
        var now = DateTimeOffset.UtcNow;
        var stillValidating = db.Jobs.Where(j => j.Id == id && j.Status == JobStatus.ValidatingFiles);
        if (TrainingFiles.Check(planned.Job.Method, planned.Data) is { } problem)
        {
            if (await stillValidating.ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.Status, JobStatus.Failed)
                    .SetProperty(j => j.CompletedAt, now)
                    .SetProperty(j => j.ErrorCode, TrainingFiles.InvalidTrainingFile)
                    .SetProperty(j => j.ErrorMessage, problem.Message)
                    .SetProperty(j => j.ErrorParam, problem.Param), ct) == 1)
            {
                await RecordAsync(Event(id, EventLevel.Error, problem.Message, new { code = TrainingFiles.InvalidTrainingFile, param = problem.Param }), ct);
                await queue.PublishStatusAsync(id, JobStatus.Failed, new { code = TrainingFiles.InvalidTrainingFile, message = problem.Message, param = problem.Param });
            }
            return;
        }

        if (await stillValidating.ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Queued).SetProperty(j => j.QueuedAt, now), ct) == 1)
        {
            await RecordAsync(Event(id, EventLevel.Info, "Files validated; the job is queued."), ct);
            await queue.EnqueueAsync(WorkKind.Job, id);
            await queue.PublishStatusAsync(id, JobStatus.Queued);
            logger.LogInformation("Job {JobId} queued", id);
        }
    }

    private async Task RecordAsync(JobEvent jobEvent, CancellationToken ct)
    {
        db.JobEvents.Add(jobEvent);
        await db.SaveChangesAsync(ct);
    }

    private static JobEvent Event(string jobId, string level, string message, object? data = null) => new()
    {
        JobId = jobId,
        Level = level,
        Type = "status",
        Message = message,
        Data = data is null ? null : JsonSerializer.Serialize(data, LiveUpdate.JsonOptions),
        CreatedAt = DateTimeOffset.UtcNow,
    };
}
