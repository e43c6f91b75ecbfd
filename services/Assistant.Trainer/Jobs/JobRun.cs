using System.Diagnostics;
using Assistant.Modeling.Training;
using Assistant.Platform.Alerts;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Trainer.JobProcesses;
using Microsoft.EntityFrameworkCore;

namespace Assistant.Trainer.Jobs;

/// <summary>One attempt of one job on this worker, from claim to finish.</summary>
internal sealed class JobRun(
    TrainingJob job,
    DateTimeOffset claimedAt,
    IServiceScopeFactory scopes,
    JobQueue queue,
    WorkerIdentity worker,
    ActiveWork active,
    TrainerOptions options,
    ILogger<JobRun> logger)
{
    private readonly CancellationTokenSource _abort = new();
    private JobProcess? _process;
    private JobWorkspace? _workspace;
    private JobIngest _ingest = null!;
    private int _cancelRequested;
    private volatile bool _leaseLost;

    private bool CancelRequested => Volatile.Read(ref _cancelRequested) == 1;

    public async Task ExecuteAsync(CancellationToken stopping)
    {
        var queuedAt = job.QueuedAt ?? job.CreatedAt;
        // A trace per attempt, from queued to finished; its own root, not a child of the worker's loop.
        Activity.Current = null;
        using var trace = TrainerTelemetry.Source.StartActivity("job run", ActivityKind.Consumer, parentContext: default, startTime: queuedAt.UtcDateTime);
        trace?.SetTag("job.id", job.Id);
        trace?.SetTag("job.attempt", job.Attempts);
        trace?.SetTag("job.method", job.Method);
        trace?.SetTag("worker.id", worker.Id);
        using (var wait = TrainerTelemetry.Source.StartActivity("queue wait", ActivityKind.Internal, trace?.Context ?? default, startTime: queuedAt.UtcDateTime))
            wait?.SetEndTime(claimedAt.UtcDateTime);
        TrainerTelemetry.QueueWait.Record((claimedAt - queuedAt).TotalSeconds);

        using var abort = CancellationTokenSource.CreateLinkedTokenSource(stopping, _abort.Token);
        using var busy = active.Begin(job.Id, RequestCancel);
        using var done = new CancellationTokenSource();
        await using var ingest = _ingest = new JobIngest(job, scopes, queue, worker, options, logger);
        var leaseKeeper = KeepLeaseAsync(done.Token);
        var handBack = false;
        try
        {
            await AnnounceStartAsync(abort.Token);
            var outcome = await TrainAsync(abort.Token);
            await FinishAsync(outcome, abort.Token);
        }
        catch (OperationCanceledException) when (abort.IsCancellationRequested)
        {
            // Not ours to finish: the lease went to another worker, or this worker is stopping and the lease
            // will expire so that another one resumes the job from its latest checkpoint.
            logger.LogWarning("Job {JobId} stopped on this worker: {Reason}", job.Id,
                _leaseLost ? "its lease was lost" : "the worker is shutting down");
            trace?.SetStatus(ActivityStatusCode.Error, _leaseLost ? "lease lost" : "worker stopping");
            handBack = !_leaseLost && stopping.IsCancellationRequested;
        }
        catch (Exception e)
        {
            logger.LogError(e, "Job {JobId} failed in the worker", job.Id);
            trace?.SetStatus(ActivityStatusCode.Error, e.Message);
            try
            {
                _process?.Kill();
                ingest.Db.ChangeTracker.Clear(); // whatever failed to save must not be retried with the failure
                await FinishAsync(JobOutcome.Failed("internal_error", $"The trainer worker failed while running the job: {e.Message}"), stopping);
            }
            catch (Exception finishError) when (finishError is not OperationCanceledException)
            {
                logger.LogError(finishError, "Could not record the failure of job {JobId}; its lease will expire and the job be retried", job.Id);
            }
        }
        finally
        {
            await done.CancelAsync();
            await leaseKeeper;
            _process?.Dispose(); // kills the job process if anything above left it running
            _workspace?.Dispose();
            _abort.Dispose();
            if (handBack) await HandBackAsync();
        }
    }

    /// <summary>This worker is stopping: give the job back now (its process is gone) rather than let the lease run out.</summary>
    private async Task HandBackAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await using var scope = scopes.CreateAsyncScope();
            if (await queue.ReleaseAsync(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), job.Id, worker.Id, timeout.Token))
                logger.LogInformation("Job {JobId} handed back to the queue; another worker resumes it from its latest checkpoint", job.Id);
        }
        catch (Exception e) when (e is OperationCanceledException or DbUpdateException or Npgsql.NpgsqlException or StackExchange.Redis.RedisException)
        {
            logger.LogWarning(e, "Could not hand job {JobId} back; it is resumed when its lease expires", job.Id);
        }
    }

    /// <summary>
    /// Renews the lease every third of its duration and looks for a cancel request (the Redis flag, and
    /// Postgres in case a notice was lost). A refused renewal means the job is someone else's now: stop at once.
    /// </summary>
    private async Task KeepLeaseAsync(CancellationToken done)
    {
        while (!done.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.LeaseRenewal, done);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
                if (!await JobQueue.RenewLeaseAsync(db, job.Id, worker.Id, options.LeaseDuration, done))
                {
                    _leaseLost = true;
                    logger.LogWarning("Job {JobId}: the lease was lost; stopping its process", job.Id);
                    _process?.Kill();
                    await _abort.CancelAsync();
                    return;
                }
                if (!CancelRequested && await CancelFlaggedAsync(scope.ServiceProvider, db, done)) RequestCancel();
            }
            catch (OperationCanceledException) when (done.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or DbUpdateException or StackExchange.Redis.RedisException or TimeoutException)
            {
                // Keep training: the lease outlives a few missed renewals, and a lost one is noticed at the next.
                logger.LogWarning(e, "Job {JobId}: renewing the lease failed; retrying", job.Id);
            }
        }
    }

    private async Task<bool> CancelFlaggedAsync(IServiceProvider services, PlatformDbContext db, CancellationToken ct)
    {
        var redis = services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>();
        if (await redis.GetDatabase().KeyExistsAsync(Platform.Workers.RedisKeys.JobCancel(job.Id))) return true;
        return await db.Jobs.AsNoTracking().AnyAsync(j => j.Id == job.Id && j.CancelRequestedAt != null, ct);
    }

    /// <summary>
    /// Stops the job at the next optimizer step: <c>cancel</c> to its process, killed if it has not exited
    /// within the grace period. Called from the cancel notice, the lease keeper or both: acts once.
    /// </summary>
    private void RequestCancel()
    {
        if (Interlocked.Exchange(ref _cancelRequested, 1) == 1) return;
        logger.LogInformation("Job {JobId}: cancel requested", job.Id);
        if (_process is { } process) _ = StopProcessAsync(process);
    }

    private async Task StopProcessAsync(JobProcess process)
    {
        try
        {
            await process.SendAsync(JobProcessProtocol.Cancel);
            await process.StopAsync(options.CancelGrace);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            // The run ended and released the process meanwhile: nothing is left to stop.
        }
    }

    private async Task<JobOutcome> TrainAsync(CancellationToken ct)
    {
        TrainingSpec spec;
        using (var prepare = TrainerTelemetry.Source.StartActivity("prepare job"))
        {
            var prepared = await PrepareAsync(ct);
            if (prepared.Failure is { } failure)
            {
                prepare?.SetStatus(ActivityStatusCode.Error, failure.Error?.Message);
                return failure;
            }
            spec = prepared.Spec!;
        }
        if (CancelRequested) return JobOutcome.Cancelled;

        await File.WriteAllTextAsync(_workspace!.SpecFile, spec.ToJson(), ct);
        using var training = TrainerTelemetry.Source.StartActivity("train");
        _process = JobProcess.Start(JobProcessProtocol.RunJobCommand, _workspace.SpecFile, _workspace.Root, logger);
        active.Attach(_process);
        logger.LogInformation("Job {JobId} runs in process {ProcessId}", job.Id, _process.ProcessId);
        // A cancel that arrived while the process was starting.
        if (CancelRequested) _ = StopProcessAsync(_process);

        var result = await _ingest.ConsumeAsync(_process, _workspace, ct);
        var exitCode = await _process.WaitForExitAsync(ct);
        training?.SetTag("process.exit_code", exitCode);
        logger.LogInformation("Job {JobId}: process {ProcessId} exited with code {ExitCode}", job.Id, _process.ProcessId, exitCode);

        if (result is { Status: JobStatus.Succeeded, FinalModelPath: { } final } && exitCode == JobProcessProtocol.Succeeded)
            return new JobOutcome(JobStatus.Succeeded, FinalModelPath: final);
        if (CancelRequested || result?.Status == JobStatus.Cancelled) return JobOutcome.Cancelled;
        if (result?.Error is { } error) return new JobOutcome(JobStatus.Failed, _ingest.Describe(error));
        return JobOutcome.Failed("process_crashed", CrashMessage(exitCode, _process.StderrTail));
    }

    private async Task AnnounceStartAsync(CancellationToken ct)
    {
        var message = job.Attempts > 1
            ? $"Job resumed on worker {worker.Id} (attempt {job.Attempts} of {job.MaxAttempts})"
            : $"Fine-tuning job started on worker {worker.Id}";
        await _ingest.AddEventAsync(EventLevel.Info, "status", message, new { worker_id = worker.Id, attempt = job.Attempts }, ct);
        await _ingest.PublishStatusAsync(JobStatus.Running, new { worker_id = worker.Id, attempt = job.Attempts });
    }

    /// <summary>
    /// Builds the job's folder: the base model version, the dataset blobs (checked against their SHA-256) and,
    /// on a later attempt, the latest checkpoint from S3 to resume from. Input the job cannot run with becomes
    /// a failure naming the field; infrastructure errors propagate.
    /// </summary>
    private async Task<(TrainingSpec? Spec, JobOutcome? Failure)> PrepareAsync(CancellationToken ct)
    {
        TrainingConfig config;
        try
        {
            config = TrainingConfig.FromJson(job.Hyperparameters, "hyperparameters") with { Method = job.Method, Seed = job.Seed };
            config.Validate();
        }
        catch (TrainingConfigException e)
        {
            return (null, JobOutcome.Failed("invalid_hyperparameters", e.Message, e.Field ?? "hyperparameters"));
        }

        _workspace = new JobWorkspace(Path.Combine(options.ResolveWorkDir(worker.Id), "jobs", job.Id), logger);
        var registry = _ingest.Services.GetRequiredService<ModelRegistry>();
        var artifacts = _ingest.Services.GetRequiredService<Platform.Storage.ArtifactStore>();
        try
        {
            var baseModel = await registry.GetVersionAsync(job.BaseModelVersionId, ct);
            await registry.DownloadAsync(baseModel, _workspace.ModelFolder, ct);
        }
        catch (Exception e) when (e is ModelRegistryException or InvalidDataException)
        {
            return (null, JobOutcome.Failed("model_error", $"The base model {job.BaseModel} cannot be loaded: {e.Message}", "model"));
        }
        _ingest.NamePath(_workspace.ModelFolder, $"base model {job.BaseModel}");

        var refs = DatasetRefs(job.DatasetRefs);
        var files = new (string Role, string? Sha256, string Param)[]
        {
            ("train", job.TrainSha256, "training_file"),
            ("validation", job.ValidationSha256, "validation_file"),
            ("test", job.TestSha256, "test_file"),
        };
        foreach (var (role, sha256, param) in files)
        {
            if (sha256 is null) continue;
            var name = refs.GetValueOrDefault(role) ?? $"{role} file";
            try
            {
                await JobWorkspace.DownloadBlobAsync(artifacts, sha256, _workspace.DataFile(role), ct);
            }
            catch (MissingDatasetException e)
            {
                var code = role == "train" ? "invalid_training_file" : $"invalid_{role}_file";
                return (null, JobOutcome.Failed(code, $"The {role} data {name} cannot be read: {e.Message}.", param));
            }
            _ingest.NamePath(_workspace.DataFile(role), name);
        }

        var resumeStep = job.Attempts > 1 ? await DownloadLatestCheckpointAsync(artifacts, ct) : 0;
        await _ingest.StartAttemptAtAsync(resumeStep, ct);
        _ingest.NamePath(_workspace.OutputFolder + Path.DirectorySeparatorChar, "");
        return (new TrainingSpec
        {
            Model = _workspace.ModelFolder,
            TrainFile = _workspace.DataFile("train"),
            ValidationFile = job.ValidationSha256 is null ? null : _workspace.DataFile("validation"),
            TestFile = job.TestSha256 is null ? null : _workspace.DataFile("test"),
            OutputDir = _workspace.OutputFolder,
            Config = config,
            Resume = resumeStep > 0,
        }, null);
    }

    /// <summary>The newest checkpoint an earlier attempt stored, downloaded into <c>out/checkpoint-N/</c>; its step, or 0 to start over.</summary>
    private async Task<int> DownloadLatestCheckpointAsync(Platform.Storage.ArtifactStore artifacts, CancellationToken ct)
    {
        var checkpoint = await _ingest.Db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == job.Id)
            .OrderByDescending(c => c.Step).FirstOrDefaultAsync(ct);
        if (checkpoint is null) return 0;
        using var span = TrainerTelemetry.Source.StartActivity("download checkpoint");
        span?.SetTag("job.step", checkpoint.Step);
        var folder = Path.Combine(_workspace!.OutputFolder, CheckpointStore.NameFor(checkpoint.Step));
        await artifacts.DownloadFolderAsync(checkpoint.ObjectPrefix, folder, ct);
        if (File.Exists(Path.Combine(folder, CheckpointStore.CompleteMarker))) return checkpoint.Step;
        logger.LogWarning("Job {JobId}: checkpoint {Step} in S3 is incomplete; starting over", job.Id, checkpoint.Step);
        Directory.Delete(folder, recursive: true);
        return 0;
    }

    /// <summary>
    /// Records the end of the run: a succeeded one uploads its model and registers a version first. Every end
    /// is a conditional update; if this worker lost the lease meanwhile, the job's new owner decides.
    /// </summary>
    private async Task FinishAsync(JobOutcome outcome, CancellationToken ct)
    {
        using var span = TrainerTelemetry.Source.StartActivity("finish job");
        span?.SetTag("job.status", outcome.Status);
        await _ingest.FlushAsync(ct);
        bool finished;
        switch (outcome.Status)
        {
            case JobStatus.Succeeded:
            {
                var registry = _ingest.Services.GetRequiredService<ModelRegistry>();
                var prefix = TrainingJob.ModelPrefix(job.Id);
                using (TrainerTelemetry.Source.StartActivity("upload model"))
                    await registry.UploadFolderAsync(outcome.FinalModelPath!, prefix, ct);
                var version = await registry.RegisterJobVersionAsync(job, prefix, HfFolder.Read(outcome.FinalModelPath!), _ingest.LatestMetricsJson, ct);
                var model = $"{version.Model?.Name}@{version.Version}";
                await _ingest.Db.Jobs.Where(j => j.Id == job.Id && j.WorkerId == worker.Id && j.Status == JobStatus.Running)
                    .ExecuteUpdateAsync(s => s.SetProperty(j => j.ResultModelVersionId, version.Id), ct);
                finished = await _ingest.FinishAsync(JobStatus.Succeeded, null,
                [
                    new(EventLevel.Info, "status", $"New model version created: {model}", new { model, model_version_id = version.Id }),
                    new(EventLevel.Info, "status", "The job has successfully completed"),
                ], ct);
                if (!finished) break;
                await _ingest.PublishStatusAsync(JobStatus.Succeeded, new { fine_tuned_model = model, model_version_id = version.Id });
                await _ingest.RaiseAsync(AlertKind.JobFinished, AlertSeverity.Info, $"Job {job.Id} succeeded: model {model}", new { model }, ct);
                break;
            }
            case JobStatus.Failed:
            {
                var error = outcome.Error!;
                finished = await _ingest.FinishAsync(JobStatus.Failed, error,
                    [new(EventLevel.Error, "status", $"The job failed: {error.Message}", new { code = error.Code, param = error.Param })], ct);
                if (!finished) break;
                await _ingest.PublishStatusAsync(JobStatus.Failed, new { error = new { code = error.Code, message = error.Message, param = error.Param } });
                if (error.Code == "nan_loss")
                    await _ingest.RaiseAsync(AlertKind.NanLoss, AlertSeverity.Critical, $"Job {job.Id}: {error.Message}", new { error.Code }, ct);
                await _ingest.RaiseAsync(AlertKind.JobFailed, AlertSeverity.Warning, $"Job {job.Id} failed ({error.Code}): {JobIngest.Truncate(error.Message, 500)}",
                    new { error.Code, error.Param }, ct);
                break;
            }
            default:
                finished = await _ingest.FinishAsync(JobStatus.Cancelled, null, [new(EventLevel.Info, "status", "The job was cancelled")], ct);
                if (finished) await _ingest.PublishStatusAsync(JobStatus.Cancelled, null);
                break;
        }
        if (finished)
        {
            logger.LogInformation("Job {JobId} {Status}", job.Id, outcome.Status);
            TrainerTelemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("job.status", outcome.Status));
        }
        else
        {
            logger.LogWarning("Job {JobId} ended as {Status} here, but this worker no longer held its lease", job.Id, outcome.Status);
        }
    }

    /// <summary><c>{"train":"support@2",...}</c> as written by the API; unreadable refs just mean plainer messages.</summary>
    private static Dictionary<string, string> DatasetRefs(string json)
    {
        var refs = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(json);
            if (document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object)
                foreach (var property in document.RootElement.EnumerateObject())
                    if (property.Value.ValueKind == System.Text.Json.JsonValueKind.String) refs[property.Name] = property.Value.GetString()!;
        }
        catch (System.Text.Json.JsonException)
        {
        }
        return refs;
    }

    private static string CrashMessage(int exitCode, string stderrTail)
    {
        var cause = exitCode switch
        {
            137 => "was killed (SIGKILL), most often because the machine ran out of memory",
            134 => "aborted (an unhandled error or a native crash)",
            139 => "crashed with a segmentation fault",
            JobProcessProtocol.Orphaned => "stopped because it lost contact with the worker",
            _ => $"exited with code {exitCode} without a result",
        };
        var tail = stderrTail.Length > 1500 ? stderrTail[^1500..] : stderrTail;
        return tail.Length == 0 ? $"The training process {cause}." : $"The training process {cause}. Its last output:\n{tail}";
    }
}
