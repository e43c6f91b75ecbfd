using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Assistant.Platform.Workers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Apis;

/// <summary>
/// A trainer worker as the API reports it. <see cref="State"/> is busy, idle or stopped as the worker last said, or
/// <c>lost</c> when the row says it is alive but its heartbeat key expired in Redis (it died without saying so).
/// </summary>
public sealed record WorkerDto(
    string Id, string Hostname, int ProcessId, string PlatformVersion, string Device, string State, bool? HeartbeatAlive,
    string? CurrentJobId, DateTimeOffset RegisteredAt, DateTimeOffset LastHeartbeatAt, double CpuPercent, long RssBytes,
    long HostMemoryUsedBytes, long HostMemoryTotalBytes, double? GpuUtilizationPercent, long? GpuMemoryUsedBytes, long? GpuMemoryTotalBytes);

public static class WorkersApi
{
    public const string Lost = "lost";

    public static IEndpointRouteBuilder MapWorkersApi(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/workers").WithTags("Workers").AddEndpointFilter<ApiProblems>()
            .MapGet("/", List).WithName("ListWorkers").RequireScope(ApiScopes.Read)
            .WithSummary("Trainer workers: state (busy, idle, stopped, or lost when the heartbeat expired), current job, last heartbeat, CPU, memory, GPU.");
        return app;
    }

    private static async Task<Ok<ListDto<WorkerDto>>> List(PlatformDbContext db, IConnectionMultiplexer redis, ILoggerFactory loggers, CancellationToken ct)
    {
        var workers = await db.Workers.AsNoTracking().OrderBy(w => w.State).ThenByDescending(w => w.LastHeartbeatAt).ToListAsync(ct);
        bool[]? alive = null;
        try
        {
            var redisDb = redis.GetDatabase();
            alive = await Task.WhenAll(workers.Select(w => redisDb.KeyExistsAsync(RedisKeys.WorkerHeartbeat(w.Id))));
        }
        catch (RedisException ex)
        {
            // Without Redis liveness is unknown: report what the rows say rather than fail the listing.
            loggers.CreateLogger(typeof(WorkersApi)).LogWarning(ex, "Worker heartbeats could not be read from Redis");
        }
        var dtos = workers.Select((w, i) => new WorkerDto(
            w.Id, w.Hostname, w.ProcessId, w.PlatformVersion, w.Device, StateOf(w.State, alive?[i]), alive?[i], w.CurrentJobId,
            w.RegisteredAt, w.LastHeartbeatAt, w.CpuPercent, w.RssBytes, w.HostMemoryUsedBytes, w.HostMemoryTotalBytes,
            w.GpuUtilizationPercent, w.GpuMemoryUsedBytes, w.GpuMemoryTotalBytes)).ToList();
        return TypedResults.Ok(new ListDto<WorkerDto>(dtos, HasMore: false));
    }

    private static string StateOf(WorkerState state, bool? heartbeatAlive) => state switch
    {
        WorkerState.Stopped => "stopped",
        _ when heartbeatAlive == false => Lost,
        WorkerState.Busy => "busy",
        _ => "idle",
    };
}
