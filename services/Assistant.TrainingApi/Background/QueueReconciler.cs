using Assistant.Platform.Alerts;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.TrainingApi.Database;
using Assistant.TrainingApi.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Assistant.TrainingApi.Background;

/// <summary>
/// Keeps Redis in line with Postgres (<see cref="JobQueue.ReconcileAsync"/>): jobs whose worker died go back to the
/// queue or fail when out of attempts, a lost stream is rebuilt, and jobs a stopped replica left in
/// <c>validating_files</c> are validated. A job failed here raises <c>job_failed</c>.
/// </summary>
internal sealed class QueueReconciler(IServiceScopeFactory scopes, DatabaseMigrator migrator, IOptions<MonitoringOptions> options, ILogger<QueueReconciler> logger)
    : SingleReplicaService(scopes, migrator, logger)
{
    protected override TimeSpan Interval => options.Value.ReconcileInterval;
    protected override long LockKey => 72101;

    /// <summary>Validation takes milliseconds: a job validating longer was left behind by a replica that stopped.</summary>
    private static readonly TimeSpan StaleValidation = TimeSpan.FromMinutes(1);

    protected override async Task RunOnceAsync(IServiceProvider services, CancellationToken ct)
    {
        var db = services.GetRequiredService<PlatformDbContext>();
        if (await services.GetRequiredService<JobSubmitter>().ResumeValidationAsync(StaleValidation, ct) is > 0 and var resumed)
        {
            logger.LogWarning("Finished validating {Count} job(s) an API replica left in validating_files", resumed);
        }
        var (requeued, failed) = await services.GetRequiredService<JobQueue>().ReconcileAsync(db, ct);
        if (requeued.Count > 0)
        {
            logger.LogInformation("Reconciler put {Count} job(s) back on the stream", requeued.Count);
        }
        var alerts = services.GetRequiredService<AlertBook>();
        foreach (var id in failed)
        {
            var job = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct);
            await alerts.RaiseAsync(AlertKind.JobFailed, AlertSeverity.Critical, subject: id,
                message: $"Job {id} failed: {job?.ErrorMessage ?? "its worker stopped responding"}",
                jobId: id, workerId: job?.WorkerId, data: new { code = job?.ErrorCode, attempts = job?.Attempts }, ct: ct);
        }
    }
}
