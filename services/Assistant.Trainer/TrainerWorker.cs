using System.Diagnostics;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Trainer;

public sealed class TrainerOptions
{
    /// <summary>How often the worker proves it is alive.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a heartbeat counts; a worker silent for longer is considered dead.</summary>
    public TimeSpan HeartbeatTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How long an idle worker waits before asking the job stream again; a notice on
    /// <see cref="RedisKeys.JobNotifications"/> wakes it sooner.
    /// </summary>
    public TimeSpan IdlePoll { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// A trainer worker: registers itself (a row in Postgres, a heartbeat key in Redis), joins the trainers'
/// consumer group on the job stream and waits for jobs.
/// </summary>
public sealed class TrainerWorker(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    IOptions<TrainerOptions> options,
    ILogger<TrainerWorker> logger) : BackgroundService
{
    public static readonly ActivitySource Activity = new("Assistant.Trainer");

    public string WorkerId { get; } = $"{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant();

    public bool Registered { get; private set; }

    private readonly SemaphoreSlim _jobNotice = new(0);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await RegisterAsync(stoppingToken);
        await JoinConsumerGroupAsync();
        await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(RedisKeys.JobNotifications), (_, _) => _jobNotice.Release());
        Registered = true;
        logger.LogInformation("Worker {WorkerId} registered; waiting on {Stream}", WorkerId, RedisKeys.JobStream);

        try
        {
            await ListenAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var nextHeartbeat = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            if (DateTimeOffset.UtcNow >= nextHeartbeat)
            {
                await HeartbeatAsync(stoppingToken);
                nextHeartbeat = DateTimeOffset.UtcNow + options.Value.HeartbeatInterval;
            }
            StreamEntry[] entries;
            try
            {
                // StackExchange.Redis multiplexes one connection and so cannot block in XREADGROUP: poll.
                entries = await redis.GetDatabase().StreamReadGroupAsync(
                    RedisKeys.JobStream, RedisKeys.TrainerGroup, WorkerId, StreamPosition.NewMessages, count: 1);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // Redis lost its data (restart without persistence, flush): the group is rebuilt, never fatal.
                logger.LogWarning("Job stream consumer group is gone; recreating it");
                await JoinConsumerGroupAsync();
                continue;
            }
            catch (RedisConnectionException ex)
            {
                logger.LogWarning(ex, "Redis is unreachable; worker {WorkerId} retries", WorkerId);
                await Task.Delay(options.Value.HeartbeatInterval, stoppingToken);
                continue;
            }
            foreach (var entry in entries)
            {
                // Running jobs arrives with the jobs feature; until then the message stays pending for
                // this consumer, so a worker that can run it claims it later (XAUTOCLAIM) and nothing is lost.
                logger.LogWarning("Job message {MessageId} received; this worker version cannot run jobs yet", entry.Id);
            }
            if (entries.Length == 0)
            {
                var untilHeartbeat = nextHeartbeat - DateTimeOffset.UtcNow;
                var wait = untilHeartbeat < options.Value.IdlePoll ? untilHeartbeat : options.Value.IdlePoll;
                if (wait > TimeSpan.Zero)
                {
                    await _jobNotice.WaitAsync(wait, stoppingToken);
                }
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await redis.GetDatabase().KeyDeleteAsync(RedisKeys.WorkerHeartbeat(WorkerId));
            await UpdateAsync(w => w.State = WorkerState.Stopped, cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or DbUpdateException or InvalidOperationException)
        {
            logger.LogWarning(ex, "Could not mark worker {WorkerId} stopped", WorkerId);
        }
    }

    private async Task RegisterAsync(CancellationToken ct)
    {
        using var span = Activity.StartActivity("register worker");
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var now = DateTimeOffset.UtcNow;
        var worker = await db.Workers.FindAsync([WorkerId], ct);
        if (worker is null)
        {
            worker = new Worker
            {
                Id = WorkerId,
                Hostname = Environment.MachineName,
                PlatformVersion = ServiceDefaultsExtensions.PlatformVersion,
                Device = "cpu",
                RegisteredAt = now,
            };
            db.Workers.Add(worker);
        }
        worker.ProcessId = Environment.ProcessId;
        worker.PlatformVersion = ServiceDefaultsExtensions.PlatformVersion;
        worker.State = WorkerState.Idle;
        worker.LastHeartbeatAt = now;
        await db.SaveChangesAsync(ct);
    }

    private async Task JoinConsumerGroupAsync()
    {
        try
        {
            await redis.GetDatabase().StreamCreateConsumerGroupAsync(
                RedisKeys.JobStream, RedisKeys.TrainerGroup, StreamPosition.Beginning, createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // Another worker created it first.
        }
    }

    private async Task HeartbeatAsync(CancellationToken ct)
    {
        try
        {
            await redis.GetDatabase().StringSetAsync(
                RedisKeys.WorkerHeartbeat(WorkerId), DateTimeOffset.UtcNow.ToString("O"), options.Value.HeartbeatTtl);
            await UpdateAsync(w => w.LastHeartbeatAt = DateTimeOffset.UtcNow, ct);
        }
        catch (Exception ex) when (ex is RedisException or DbUpdateException or Npgsql.NpgsqlException)
        {
            logger.LogWarning(ex, "Heartbeat of worker {WorkerId} failed; retrying", WorkerId);
        }
    }

    private async Task UpdateAsync(Action<Worker> change, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var worker = await db.Workers.FindAsync([WorkerId], ct);
        if (worker is not null)
        {
            change(worker);
            await db.SaveChangesAsync(ct);
        }
    }
}

/// <summary>Ready once the worker is registered and listening.</summary>
internal sealed class WorkerRegisteredCheck(TrainerWorker worker) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(worker.Registered
            ? HealthCheckResult.Healthy($"worker {worker.WorkerId} registered")
            : HealthCheckResult.Unhealthy("registering"));
}

public static class TrainerWorkerExtensions
{
    public static IHostApplicationBuilder AddTrainerWorker(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TrainerOptions>().BindConfiguration("Trainer");
        builder.Services.AddSingleton<TrainerWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainerWorker>());
        builder.Services.AddHealthChecks().AddCheck<WorkerRegisteredCheck>("worker");
        return builder;
    }
}
