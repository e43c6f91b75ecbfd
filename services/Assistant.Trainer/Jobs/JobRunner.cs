using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Trainer.JobProcesses;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Assistant.Trainer.Jobs;

/// <summary>
/// Runs training jobs, one at a time: claims the job in Postgres, prepares its folder, runs it in a child
/// process while keeping the lease, and ends it (succeeded, failed or cancelled). The stream message is
/// acknowledged whatever happens: once a claim was tried, Postgres and the reconciler own the job's fate.
/// </summary>
public sealed class JobRunner(
    IServiceScopeFactory scopes,
    JobQueue queue,
    WorkerIdentity worker,
    ActiveWork active,
    IOptions<TrainerOptions> options,
    ILoggerFactory loggers)
{
    private readonly ILogger _logger = loggers.CreateLogger<JobRunner>();

    public async Task RunAsync(WorkItem item, CancellationToken stopping)
    {
        try
        {
            TrainingJob? job;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
                if (!await JobQueue.TryClaimAsync(db, item.Id, worker.Id, options.Value.LeaseDuration, stopping))
                {
                    _logger.LogInformation("Job {JobId} is not claimable (taken, cancelled or finished); skipping", item.Id);
                    return;
                }
                job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == item.Id, stopping);
            }
            _logger.LogInformation("Claimed job {JobId} (attempt {Attempt} of {MaxAttempts})", job.Id, job.Attempts, job.MaxAttempts);
            var run = new JobRun(job, DateTimeOffset.UtcNow, scopes, queue, worker, active, options.Value, loggers.CreateLogger<JobRun>());
            await run.ExecuteAsync(stopping);
        }
        finally
        {
            try
            {
                await queue.AcknowledgeAsync(item.MessageId);
            }
            catch (StackExchange.Redis.RedisException e)
            {
                // The message stays pending; whoever reads it later finds the job not claimable and acknowledges it.
                _logger.LogWarning(e, "Could not acknowledge message {MessageId} of job {JobId}", item.MessageId, item.Id);
            }
        }
    }
}

/// <summary>How a job run ended, as the job will record it.</summary>
internal sealed record JobOutcome(string Status, JobError? Error = null, string? FinalModelPath = null)
{
    public static JobOutcome Cancelled { get; } = new(JobStatus.Cancelled);
    public static JobOutcome Failed(string code, string message, string? param = null) => new(JobStatus.Failed, new JobError(code, message, param));
}
