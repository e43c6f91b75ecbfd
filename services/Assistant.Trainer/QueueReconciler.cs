using Assistant.Platform.Alerts;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Trainer;

/// <summary>
/// Every heartbeat interval one worker (whoever takes the Redis lock) makes the queue agree with Postgres:
/// jobs whose worker stopped renewing its lease go back to the queue, to be resumed from their latest
/// checkpoint by any worker, or fail once out of attempts; a Redis that lost its data is refilled.
/// </summary>
public sealed class QueueReconciler(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    JobQueue queue,
    WorkerIdentity worker,
    IOptions<TrainerOptions> options,
    ILogger<QueueReconciler> logger)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        var interval = options.Value.HeartbeatInterval;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, stopping);
                if (!await redis.GetDatabase().StringSetAsync(RedisKeys.ReconcileLock, worker.Id, interval, When.NotExists)) continue;
                await ReconcileAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is RedisException or DbUpdateException or Npgsql.NpgsqlException or TimeoutException)
            {
                logger.LogWarning(e, "Reconciling the job queue failed; trying again next round");
            }
        }
    }

    private async Task ReconcileAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var (requeued, failed) = await queue.ReconcileAsync(db, ct);
        if (requeued.Count > 0) logger.LogInformation("Reconciler put {Count} job(s) back on the queue: {Jobs}", requeued.Count, requeued);
        if (failed.Count == 0) return;
        logger.LogWarning("Reconciler failed {Count} job(s) out of attempts: {Jobs}", failed.Count, failed);
        var alerts = scope.ServiceProvider.GetRequiredService<AlertBook>();
        foreach (var id in failed)
            await alerts.RaiseAsync(AlertKind.JobFailed, AlertSeverity.Warning, id, $"Job {id} failed: its worker stopped responding and no attempts are left.", id, ct: ct);
    }
}
