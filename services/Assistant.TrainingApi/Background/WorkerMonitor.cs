using Assistant.Platform.Alerts;
using Assistant.Platform.Persistence;
using Assistant.TrainingApi.Database;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Assistant.TrainingApi.Background;

/// <summary>
/// Raises <c>worker_silent</c> for every worker not stopped whose last heartbeat is older than
/// <see cref="MonitoringOptions.WorkerSilentAfter"/>. The subject is the worker and its last heartbeat, so one
/// silence alerts once, and a worker that comes back and falls silent again alerts again.
/// </summary>
internal sealed class WorkerMonitor(IServiceScopeFactory scopes, DatabaseMigrator migrator, IOptions<MonitoringOptions> options, ILogger<WorkerMonitor> logger)
    : SingleReplicaService(scopes, migrator, logger)
{
    protected override TimeSpan Interval => options.Value.WorkerCheckInterval;
    protected override long LockKey => 72102;

    protected override async Task RunOnceAsync(IServiceProvider services, CancellationToken ct)
    {
        var db = services.GetRequiredService<PlatformDbContext>();
        var now = DateTimeOffset.UtcNow;
        var cutoff = now - options.Value.WorkerSilentAfter;
        var silent = await db.Workers.AsNoTracking().Where(w => w.State != WorkerState.Stopped && w.LastHeartbeatAt < cutoff).ToListAsync(ct);
        var alerts = services.GetRequiredService<AlertBook>();
        foreach (var worker in silent)
        {
            var quiet = now - worker.LastHeartbeatAt;
            var running = worker.CurrentJobId is null ? "" : $" while running {worker.CurrentJobId}";
            await alerts.RaiseAsync(AlertKind.WorkerSilent, AlertSeverity.Warning,
                subject: $"{worker.Id}@{worker.LastHeartbeatAt.UtcDateTime:O}",
                message: $"Worker {worker.Id} on {worker.Hostname} has sent no heartbeat for {quiet.TotalSeconds:F0} s{running}.",
                jobId: worker.CurrentJobId, workerId: worker.Id,
                data: new { last_heartbeat_at = worker.LastHeartbeatAt, current_job_id = worker.CurrentJobId }, ct: ct);
        }
    }
}
