using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Trainer;

/// <summary>
/// Proves the worker alive (a Redis key with a TTL) and reports on its row what it does and uses: state,
/// current job, CPU, memory of the worker and its job process, host memory and GPU. Runs beside the job
/// loop, so a worker busy with a long job keeps reporting; a change of work is reported at once.
/// </summary>
public sealed class WorkerHeartbeat(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    WorkerIdentity worker,
    ActiveWork active,
    WorkerResources resources,
    IOptions<TrainerOptions> options,
    ILogger<WorkerHeartbeat> logger)
{
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            await BeatAsync(stopping);
            try
            {
                await active.WaitForChangeAsync(options.Value.HeartbeatInterval, stopping);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    public async Task BeatAsync(CancellationToken ct)
    {
        try
        {
            await redis.GetDatabase().StringSetAsync(RedisKeys.WorkerHeartbeat(worker.Id), DateTimeOffset.UtcNow.ToString("O"), options.Value.HeartbeatTtl);
            var (currentId, process) = (active.Id, active.Process);
            var sample = await resources.SampleAsync(process is null ? null : process.CpuTime, process is null ? null : process.ResidentBytes, ct);
            var now = DateTimeOffset.UtcNow;
            var state = currentId is null ? WorkerState.Idle : WorkerState.Busy;
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await db.Workers.Where(w => w.Id == worker.Id).ExecuteUpdateAsync(s => s
                .SetProperty(w => w.LastHeartbeatAt, now)
                .SetProperty(w => w.State, state)
                .SetProperty(w => w.CurrentJobId, currentId)
                .SetProperty(w => w.CpuPercent, sample.CpuPercent)
                .SetProperty(w => w.RssBytes, sample.RssBytes)
                .SetProperty(w => w.HostMemoryUsedBytes, sample.HostMemoryUsedBytes)
                .SetProperty(w => w.HostMemoryTotalBytes, sample.HostMemoryTotalBytes)
                .SetProperty(w => w.GpuUtilizationPercent, sample.GpuUtilizationPercent)
                .SetProperty(w => w.GpuMemoryUsedBytes, sample.GpuMemoryUsedBytes)
                .SetProperty(w => w.GpuMemoryTotalBytes, sample.GpuMemoryTotalBytes), ct);
        }
        catch (Exception e) when (e is RedisException or DbUpdateException or Npgsql.NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
        {
            logger.LogWarning(e, "Heartbeat of worker {WorkerId} failed; retrying", worker.Id);
        }
    }
}
