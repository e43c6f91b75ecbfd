using Assistant.Platform;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Assistant.Trainer.JobProcesses;
using Assistant.Trainer.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Trainer;

/// <summary>
/// A trainer worker: registers itself, makes sure the starter model exists, then takes work from the job
/// stream one item at a time (a training job or an evaluation), while its heartbeat runs beside it. Jobs
/// whose worker died are put back on the queue by the training API's reconciler.
/// </summary>
public sealed class TrainerWorker(
    IServiceScopeFactory scopes,
    IConnectionMultiplexer redis,
    JobQueue queue,
    WorkerIdentity worker,
    ActiveWork active,
    JobRunner jobs,
    EvaluationRunner evaluations,
    WorkerHeartbeat heartbeat,
    IOptions<TrainerOptions> options,
    ILogger<TrainerWorker> logger) : BackgroundService
{
    private static readonly TimeSpan StartRetry = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _jobNotice = new(0);

    public string WorkerId => worker.Id;

    /// <summary>Registered, starter model present, listening: the worker is ready for jobs.</summary>
    public bool Ready { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await StartAsync(stoppingToken, attempt: 1);
            var subscriber = redis.GetSubscriber();
            await subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.JobNotifications), (_, _) => _jobNotice.Release());
            await subscriber.SubscribeAsync(RedisChannel.Literal(RedisKeys.CancelNotifications), (_, id) => active.RequestCancel(id.ToString()));
            var beating = heartbeat.RunAsync(stoppingToken);
            Ready = true;
            logger.LogInformation("Worker {WorkerId} ready; waiting on {Stream}", WorkerId, RedisKeys.JobStream);
            await ListenAsync(stoppingToken);
            await beating;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Registration and the starter model need Postgres, Redis and S3: retried until they answer.</summary>
    private async Task StartAsync(CancellationToken ct, int attempt)
    {
        while (true)
        {
            try
            {
                await RegisterAsync(ct);
                RemoveAbandonedWorkFolders();
                await EnsureStarterModelAsync(ct);
                await queue.EnsureConsumerGroupAsync();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Worker {WorkerId} could not start (attempt {Attempt}); retrying in {Delay}", WorkerId, attempt++, StartRetry);
                await Task.Delay(StartRetry, ct);
            }
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            if (await DispatchPausedAsync(stoppingToken))
            {
                // Paused by an operator: leave the stream unread; a resume notice wakes this loop.
                await _jobNotice.WaitAsync(options.Value.IdlePoll, stoppingToken);
                continue;
            }
            WorkItem? item;
            try
            {
                // A message another worker read and left idle longer than a lease was never claimed in Postgres:
                // that worker died between the two, and the message is taken over.
                item = await queue.ReadAsync(WorkerId, options.Value.LeaseDuration);
            }
            catch (RedisServerException ex) when (ex.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
            {
                // Redis lost its data (restart without persistence, flush): the group is rebuilt, never fatal.
                logger.LogWarning("Job stream consumer group is gone; recreating it");
                await queue.EnsureConsumerGroupAsync();
                continue;
            }
            catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
            {
                logger.LogWarning(ex, "Redis is unreachable; worker {WorkerId} retries", WorkerId);
                await Task.Delay(options.Value.IdlePoll, stoppingToken);
                continue;
            }
            if (item is null)
            {
                await _jobNotice.WaitAsync(options.Value.IdlePoll, stoppingToken);
                continue;
            }
            try
            {
                if (item.Kind == WorkKind.Evaluation) await evaluations.RunAsync(item, stoppingToken);
                else await jobs.RunAsync(item, stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // One job's trouble never ends the worker: its lease expires and the reconciler takes over.
                logger.LogError(ex, "Running {Kind} {Id} failed in the worker", item.Kind, item.Id);
                await Task.Delay(StartRetry, stoppingToken);
            }
        }
    }

    private async Task<bool> DispatchPausedAsync(CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            return await JobQueue.GetPauseAsync(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), ct) is not null;
        }
        catch (Exception ex) when (ex is DbUpdateException or Npgsql.NpgsqlException or InvalidOperationException && !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Cannot read whether dispatch is paused; worker {WorkerId} waits", WorkerId);
            return true; // unsure: taking no job is the safe side
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await redis.GetDatabase().KeyDeleteAsync(RedisKeys.WorkerHeartbeat(WorkerId));
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await db.Workers.Where(w => w.Id == WorkerId).ExecuteUpdateAsync(s => s
                .SetProperty(w => w.State, WorkerState.Stopped)
                .SetProperty(w => w.CurrentJobId, (string?)null), cancellationToken);
        }
        catch (Exception ex) when (ex is RedisException or DbUpdateException or Npgsql.NpgsqlException or InvalidOperationException or OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not mark worker {WorkerId} stopped", WorkerId);
        }
    }

    private async Task RegisterAsync(CancellationToken ct)
    {
        using var span = TrainerTelemetry.Source.StartActivity("register worker");
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var now = DateTimeOffset.UtcNow;
        var row = await db.Workers.FindAsync([WorkerId], ct);
        if (row is null)
        {
            row = new Worker
            {
                Id = WorkerId,
                Hostname = Environment.MachineName,
                PlatformVersion = PlatformBuild.Version,
                Device = "cpu",
                RegisteredAt = now,
            };
            db.Workers.Add(row);
        }
        row.ProcessId = Environment.ProcessId;
        row.PlatformVersion = PlatformBuild.Version;
        row.State = WorkerState.Idle;
        row.CurrentJobId = null;
        row.LastHeartbeatAt = now;
        await db.SaveChangesAsync(ct);
        await heartbeat.BeatAsync(ct);
    }

    /// <summary>
    /// A worker killed mid-job leaves its folder (model, data, checkpoints) behind: the folders of workers of
    /// this host whose process is gone are removed. Everything in them is in S3.
    /// </summary>
    private void RemoveAbandonedWorkFolders()
    {
        var root = options.Value.WorkRoot;
        var hostPrefix = Environment.MachineName.ToLowerInvariant() + "-";
        if (!Directory.Exists(root) || !OperatingSystem.IsLinux()) return;
        foreach (var folder in Directory.EnumerateDirectories(root))
        {
            var name = Path.GetFileName(folder);
            if (!name.StartsWith(hostPrefix, StringComparison.Ordinal) || !int.TryParse(name.AsSpan(hostPrefix.Length), out var pid)) continue;
            if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}")) continue;
            try
            {
                Directory.Delete(folder, recursive: true);
                logger.LogInformation("Removed {Folder}, left by a worker that is gone", folder);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                logger.LogWarning(e, "Could not remove {Folder}", folder);
            }
        }
    }

    /// <summary>
    /// The built-in starter (base model <c>starter</c> version 1) is registered once by whichever worker comes
    /// first. It is written by a child process, so that the worker itself never loads libtorch.
    /// </summary>
    private async Task EnsureStarterModelAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var registry = scope.ServiceProvider.GetRequiredService<ModelRegistry>();
        var starter = await registry.EnsureStarterAsync(async folder =>
        {
            using var span = TrainerTelemetry.Source.StartActivity("create starter model");
            using var process = JobProcess.Start(JobProcessProtocol.CreateStarterCommand, folder, Path.GetTempPath(), logger);
            var exitCode = await process.WaitForExitAsync(ct);
            if (exitCode != JobProcessProtocol.Succeeded)
                throw new InvalidOperationException($"Creating the starter model failed (exit code {exitCode}): {process.StderrTail}");
        }, ct);
        logger.LogInformation("Starter model: {Model}@{Version} ({Parameters:N0} parameters)", starter.Model?.Name, starter.Version, starter.Parameters);
    }
}

/// <summary>Ready once the worker is registered, has the starter model and listens.</summary>
internal sealed class WorkerReadyCheck(TrainerWorker worker) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(worker.Ready
            ? HealthCheckResult.Healthy($"worker {worker.WorkerId} ready")
            : HealthCheckResult.Unhealthy("starting"));
}

/// <summary>Rejects settings no worker could run with, naming each.</summary>
internal sealed class TrainerOptionsValidation : IValidateOptions<TrainerOptions>
{
    public ValidateOptionsResult Validate(string? name, TrainerOptions options) =>
        options.Problems().ToList() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}

public static class TrainerWorkerExtensions
{
    public static IHostApplicationBuilder AddTrainerWorker(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<TrainerOptions>().BindConfiguration(TrainerOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<TrainerOptions>, TrainerOptionsValidation>();
        builder.Services.AddSingleton(WorkerIdentity.ForThisProcess());
        builder.Services.AddSingleton<ActiveWork>();
        builder.Services.AddSingleton<WorkerResources>();
        builder.Services.AddSingleton<WorkerHeartbeat>();
        builder.Services.AddSingleton<JobRunner>();
        builder.Services.AddSingleton<EvaluationRunner>();
        builder.Services.AddSingleton<TrainerWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainerWorker>());
        builder.Services.AddHealthChecks().AddCheck<WorkerReadyCheck>("worker");
        return builder;
    }
}
