using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Modeling.Training;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// The trainer workers run jobs end to end on the platform's real Postgres, Redis and S3: jobs are created the
/// way the jobs API creates them (a row, then the stream), with the tiny starter model and a few steps.
/// </summary>
public sealed class JobWorkerTests(PlatformFixture fixture) : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(120);

    private ConnectionMultiplexer _redis = null!;
    private JobQueue _queue = null!;
    private string _database = null!;
    private ArtifactStore _artifacts = null!;

    public async ValueTask InitializeAsync()
    {
        _database = (await fixture.Platform.GetConnectionStringAsync("assistantdb"))!;
        _redis = await ConnectionMultiplexer.ConnectAsync((await fixture.Platform.GetConnectionStringAsync("redis"))!);
        _queue = new JobQueue(_redis);
        var s3 = ObjectStoreConnection.Parse((await fixture.Platform.GetConnectionStringAsync("s3"))!);
        _artifacts = new ArtifactStore(ArtifactStoreExtensions.CreateClient(s3), s3);
    }

    public async ValueTask DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_queued_job_runs_to_success_with_metrics_events_checkpoints_and_a_registered_model_that_can_be_evaluated()
    {
        var dataset = await UploadDatasetAsync("jobdata", examples: 12);
        var suffix = DatasetsApiTests.UniqueName("tiny");
        var job = await CreateJobAsync(dataset, new TrainingConfig
        {
            MaxSteps = 6, BatchSize = 2, MaxLength = 64, EvalSteps = 3, SaveSteps = 3, EvalSamples = 1, MaxNewTokens = 8,
        }, suffix);

        // A worker may claim the job before the first poll: queued can be missed, never the order.
        var seen = await WaitForStatusAsync(job, JobStatus.Succeeded);
        Assert.Equal(new[] { JobStatus.Queued, JobStatus.Running, JobStatus.Succeeded }.Where(seen.Contains), seen);

        await using var db = OpenDatabase();
        var finished = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job, Ct);
        Assert.Equal(6, finished.Step);
        Assert.Equal(6, finished.TotalSteps);
        Assert.Equal(1, finished.Attempts);
        Assert.NotNull(finished.StartedAt);
        Assert.True(finished.TrainedTokens > 0);
        using (var latest = JsonDocument.Parse(finished.Metrics))
        {
            Assert.True(latest.RootElement.GetProperty("train_loss").GetDouble() > 0);
            Assert.True(latest.RootElement.GetProperty("valid_loss").GetDouble() > 0);
        }

        // One train_loss per step, the eval metrics at the eval steps.
        var metrics = await db.JobMetrics.AsNoTracking().Where(m => m.JobId == job).ToListAsync(Ct);
        Assert.Equal([1, 2, 3, 4, 5, 6], metrics.Where(m => m.Key == "train_loss").Select(m => m.Step).Order());
        Assert.Equal([3, 6], metrics.Where(m => m.Key == "valid_loss").Select(m => m.Step).Order());
        foreach (var key in (string[])["train_mean_token_accuracy", "learning_rate", "grad_norm", "tokens_per_second", "step_time_ms", "memory_mb", "epoch"])
            Assert.Equal(6, metrics.Count(m => m.Key == key));

        var events = await db.JobEvents.AsNoTracking().Where(e => e.JobId == job).OrderBy(e => e.Id).ToListAsync(Ct);
        Assert.Contains(events, e => e.Type == "checkpoint");
        var eval = Assert.Single(events, e => e.Type == "eval" && e.Message.StartsWith("Step 3:", StringComparison.Ordinal));
        using (var data = JsonDocument.Parse(eval.Data!))
            Assert.Equal(1, data.RootElement.GetProperty("samples").GetArrayLength());
        Assert.Contains(events, e => e.Message == "The job has successfully completed");
        Assert.DoesNotContain(events, e => e.Message.Contains("/tmp/", StringComparison.Ordinal)); // local paths never reach users

        var checkpoints = await db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == job).OrderBy(c => c.Step).ToListAsync(Ct);
        Assert.Equal([3, 6], checkpoints.Select(c => c.Step));
        foreach (var checkpoint in checkpoints)
        {
            var files = (await _artifacts.ListAsync(checkpoint.ObjectPrefix, Ct)).Select(o => o.Key[checkpoint.ObjectPrefix.Length..]).ToList();
            Assert.Contains(CheckpointStore.CompleteMarker, files);
            Assert.Contains(CheckpointStore.OptimizerFile, files);
            Assert.Contains("model.safetensors", files);
            using var checkpointMetrics = JsonDocument.Parse(checkpoint.Metrics);
            Assert.True(checkpointMetrics.RootElement.TryGetProperty("train_loss", out _));
            Assert.True(checkpointMetrics.RootElement.TryGetProperty("valid_loss", out _));
        }

        var version = await db.ModelVersions.AsNoTracking().Include(v => v.Model).SingleAsync(v => v.JobId == job, Ct);
        Assert.Equal(finished.ResultModelVersionId, version.Id);
        Assert.Equal(suffix, version.Model!.Name);
        Assert.Equal("llama", version.Architecture);
        Assert.True(version.Parameters > 1_000_000);
        Assert.Contains(dataset.VersionId.ToString(), version.DatasetVersions, StringComparison.Ordinal);
        Assert.Contains("config.json", (await _artifacts.ListAsync(version.ArtifactPrefix, Ct)).Select(o => o.Key[version.ArtifactPrefix.Length..]));

        // The registered version can be scored on a dataset version: an evaluation runs on a worker like a job.
        var evaluation = new Evaluation
        {
            Id = Evaluation.NewId(), JobId = job, ModelVersionId = version.Id, DatasetVersionId = dataset.VersionId,
            DatasetRef = dataset.Ref, DatasetSha256 = dataset.Sha256, CreatedBy = "tests", CreatedAt = DateTimeOffset.UtcNow,
        };
        db.Evaluations.Add(evaluation);
        await db.SaveChangesAsync(Ct);
        await _queue.EnqueueAsync(WorkKind.Evaluation, evaluation.Id);
        var scored = await PollAsync(async probe => await probe.Evaluations.AsNoTracking()
            .SingleOrDefaultAsync(e => e.Id == evaluation.Id && (e.Status == EvaluationStatus.Succeeded || e.Status == EvaluationStatus.Failed), Ct), JobTimeout);
        Assert.True(scored!.Status == EvaluationStatus.Succeeded, scored.ErrorMessage);
        using (var scores = JsonDocument.Parse(scored.Metrics!))
        {
            Assert.True(scores.RootElement.GetProperty("test_loss").GetDouble() > 0);
            Assert.InRange(scores.RootElement.GetProperty("rouge_l").GetDouble(), 0, 1);
            Assert.Equal(12, scores.RootElement.GetProperty("examples").GetInt32());
        }

        var stepTimes = metrics.Where(m => m.Key == "step_time_ms").Select(m => m.Value).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"queued -> running {(finished.StartedAt - finished.QueuedAt)!.Value.TotalMilliseconds:F0} ms; running -> succeeded {(finished.CompletedAt - finished.StartedAt)!.Value.TotalMilliseconds:F0} ms; step time median {stepTimes.Order().ElementAt(stepTimes.Count / 2):F0} ms"));
    }

    [Fact]
    public async Task A_job_whose_worker_is_killed_is_resumed_by_the_other_worker_from_its_last_checkpoint()
    {
        await WaitForAliveWorkersAsync(2);
        var dataset = await UploadDatasetAsync("crashdata", examples: 24);
        var job = await CreateJobAsync(dataset, new TrainingConfig
        {
            MaxSteps = 40, BatchSize = 2, MaxLength = 64, EvalSteps = 0, SaveSteps = 5, SaveTotalLimit = 1, EvalSamples = 0, MaxNewTokens = 8,
        });

        // Kill the worker as soon as it has stored a checkpoint, with most of the run still to go.
        var (firstWorker, checkpointStep) = await PollAsync(async db =>
        {
            var checkpoint = await db.JobCheckpoints.AsNoTracking().Where(c => c.JobId == job).OrderBy(c => c.Step).FirstOrDefaultAsync(Ct);
            var running = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == job, Ct);
            return checkpoint is not null && running.Status == JobStatus.Running ? (running.WorkerId!, checkpoint.Step) : default;
        }, JobTimeout);
        int workerPid;
        await using (var db = OpenDatabase())
            workerPid = (await db.Workers.AsNoTracking().SingleAsync(w => w.Id == firstWorker, Ct)).ProcessId;
        var jobProcesses = ChildProcesses(workerPid, "run-job");
        Assert.NotEmpty(jobProcesses);
        Process.GetProcessById(workerPid).Kill();

        // Its job process notices (stdin closed) and stops: nothing keeps training for a dead worker.
        await PollAsync(_ => Task.FromResult(jobProcesses.All(pid => !Directory.Exists($"/proc/{pid}"))), TimeSpan.FromSeconds(10));

        await WaitForStatusAsync(job, JobStatus.Succeeded);
        await using var check = OpenDatabase();
        var finished = await check.Jobs.AsNoTracking().SingleAsync(j => j.Id == job, Ct);
        Assert.Equal(2, finished.Attempts);
        Assert.NotEqual(firstWorker, finished.WorkerId);
        Assert.Equal(40, finished.Step);

        var events = await check.JobEvents.AsNoTracking().Where(e => e.JobId == job).OrderBy(e => e.Id).ToListAsync(Ct);
        var resumes = events.Where(e => e.Message.StartsWith("resumed from checkpoint-", StringComparison.Ordinal)).ToList();
        Assert.True(resumes.Count == 1, "expected one resume in:\n" + string.Join("\n", events.Select(e => $"{e.Level} {e.Type} {e.Message}")));
        var resumed = resumes[0];
        var resumedAt = int.Parse(resumed.Message.Split("at step ")[1].Split('/')[0], CultureInfo.InvariantCulture);
        Assert.True(resumedAt >= checkpointStep, $"resumed at step {resumedAt}, before the checkpoint {checkpointStep} seen stored");
        Assert.Single(events, e => e.Message == "The job has successfully completed");
        Assert.Single(await check.ModelVersions.AsNoTracking().Where(v => v.JobId == job).ToListAsync(Ct));

        // The series continues from the checkpoint's step: every step once, none missing.
        var trainLoss = await check.JobMetrics.AsNoTracking().Where(m => m.JobId == job && m.Key == "train_loss").Select(m => m.Step).ToListAsync(Ct);
        Assert.Equal(Enumerable.Range(1, 40), trainLoss.Order());
        TestContext.Current.TestOutputHelper?.WriteLine($"worker {firstWorker} killed after checkpoint {checkpointStep}; resumed at step {resumedAt} by {finished.WorkerId}; " +
            $"killed -> succeeded {(finished.CompletedAt!.Value - resumed.CreatedAt).TotalSeconds:F1} s after the resume");
    }

    [Fact]
    public async Task A_cancelled_job_stops_within_seconds_and_leaves_no_process_behind()
    {
        var dataset = await UploadDatasetAsync("canceldata", examples: 12);
        var job = await CreateJobAsync(dataset, new TrainingConfig { MaxSteps = 5000, BatchSize = 2, MaxLength = 64, EvalSteps = 0, SaveSteps = 0, EvalSamples = 0 });

        var runner = await PollAsync(async db =>
            await db.Jobs.AsNoTracking().Where(j => j.Id == job && j.Status == JobStatus.Running && j.Step >= 2).Select(j => j.WorkerId).SingleOrDefaultAsync(Ct), JobTimeout);
        int workerPid;
        await using (var db = OpenDatabase())
            workerPid = (await db.Workers.AsNoTracking().SingleAsync(w => w.Id == runner, Ct)).ProcessId;
        var jobProcess = Assert.Single(ChildProcesses(workerPid, "run-job"));

        var cancelledAt = Stopwatch.StartNew();
        await using (var db = OpenDatabase())
            Assert.Equal(JobStatus.Running, await _queue.CancelAsync(db, job, Ct));
        await WaitForStatusAsync(job, JobStatus.Cancelled, TimeSpan.FromSeconds(20));
        var latency = cancelledAt.Elapsed;

        Assert.False(Directory.Exists($"/proc/{jobProcess}"), $"job process {jobProcess} is still running after the job was cancelled");
        await using var check = OpenDatabase();
        var cancelled = await check.Jobs.AsNoTracking().SingleAsync(j => j.Id == job, Ct);
        Assert.True(cancelled.Step < 5000);
        Assert.Null(cancelled.ResultModelVersionId);
        Assert.Contains(await check.JobEvents.AsNoTracking().Where(e => e.JobId == job).Select(e => e.Message).ToListAsync(Ct), m => m == "The job was cancelled");
        TestContext.Current.TestOutputHelper?.WriteLine($"cancel -> cancelled in {latency.TotalMilliseconds:F0} ms at step {cancelled.Step}");
        Assert.True(latency < TimeSpan.FromSeconds(10), $"cancel took {latency}");
    }

    [Fact]
    public async Task Jobs_with_unusable_input_fail_with_the_field_at_fault_and_the_worker_keeps_working()
    {
        var dataset = await UploadDatasetAsync("baddata", examples: 4);
        var badConfig = await CreateJobAsync(dataset, new TrainingConfig { MaxSteps = 2, BatchSize = 2, MaxLength = 1 });
        var missingBlob = await CreateJobAsync(dataset with { Sha256 = new string('0', 64) }, new TrainingConfig { MaxSteps = 2, BatchSize = 2, MaxLength = 64 });

        await WaitForStatusAsync(badConfig, JobStatus.Failed);
        await WaitForStatusAsync(missingBlob, JobStatus.Failed);
        await using var db = OpenDatabase();
        var config = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == badConfig, Ct);
        Assert.Equal(("invalid_hyperparameters", "max_length"), (config.ErrorCode, config.ErrorParam));
        Assert.Contains("max_length", config.ErrorMessage);
        var blob = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == missingBlob, Ct);
        Assert.Equal(("invalid_training_file", "training_file"), (blob.ErrorCode, blob.ErrorParam));
        Assert.Contains(dataset.Ref, blob.ErrorMessage);
        // Raised after the job ended, so it may still be on its way.
        await PollAsync(probe => probe.Alerts.AsNoTracking().AnyAsync(a => a.Subject == badConfig && a.Kind == "job_failed", Ct), TimeSpan.FromSeconds(10));

        // The workers that failed them are still alive.
        await WaitForAliveWorkersAsync(1);
    }

    // ---- helpers: the jobs API's way of creating jobs, and polling the system of record ----

    private sealed record UploadedDataset(string Ref, Guid VersionId, string Sha256);

    private async Task<UploadedDataset> UploadDatasetAsync(string prefix, int examples)
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = DatasetsApiTests.UniqueName(prefix);
        var lines = Enumerable.Range(0, examples).Select(i => DatasetsApiTests.Chat($"What is {i} plus {i}?", $"{i} plus {i} is {2 * i}."));
        using var response = await DatasetsApiTests.UploadAsync(gateway, name, "data.jsonl", string.Join("\n", lines) + "\n");
        response.EnsureSuccessStatusCode();
        using var created = await response.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        var sha256 = created!.RootElement.GetProperty("sha256").GetString()!;
        await using var db = OpenDatabase();
        var id = await db.DatasetVersions.Where(v => v.Dataset!.Name == name && v.Version == 1).Select(v => v.Id).SingleAsync(Ct);
        return new UploadedDataset($"{name}@1", id, sha256);
    }

    /// <summary>As the jobs API does: a queued row with the base model and data resolved, then the stream.</summary>
    private async Task<string> CreateJobAsync(UploadedDataset dataset, TrainingConfig config, string? suffix = null)
    {
        await using var db = OpenDatabase();
        var starter = await db.ModelVersions.AsNoTracking().Where(v => v.Model!.Name == ModelRegistry.StarterName).OrderBy(v => v.Version).FirstAsync(Ct);
        var now = DateTimeOffset.UtcNow;
        var job = new TrainingJob
        {
            Id = TrainingJob.NewId(),
            Status = JobStatus.Queued,
            Method = TrainingMethods.Full,
            BaseModel = ModelRegistry.StarterName,
            BaseModelVersionId = starter.Id,
            TrainDatasetVersionId = dataset.VersionId,
            ValidationDatasetVersionId = config.EvalSteps > 0 ? dataset.VersionId : null,
            TrainSha256 = dataset.Sha256,
            ValidationSha256 = config.EvalSteps > 0 ? dataset.Sha256 : null,
            DatasetRefs = JsonSerializer.Serialize(new { train = dataset.Ref, validation = config.EvalSteps > 0 ? dataset.Ref : null }),
            Hyperparameters = config.ToJson(),
            Seed = 42,
            Suffix = suffix,
            CreatedBy = "tests",
            CreatedAt = now,
            QueuedAt = now,
        };
        db.Jobs.Add(job);
        await db.SaveChangesAsync(Ct);
        await _queue.EnqueueAsync(WorkKind.Job, job.Id);
        return job.Id;
    }

    /// <summary>Polls the job's status until <paramref name="status"/>; returns every status seen on the way.</summary>
    private async Task<List<string>> WaitForStatusAsync(string job, string status, TimeSpan? timeout = null)
    {
        var seen = new List<string>();
        await PollAsync(async db =>
        {
            var current = await db.Jobs.AsNoTracking().Where(j => j.Id == job).Select(j => new { j.Status, j.ErrorCode, j.ErrorMessage }).SingleAsync(Ct);
            if (seen.Count == 0 || seen[^1] != current.Status) seen.Add(current.Status);
            if (JobStatus.IsFinished(current.Status) && current.Status != status)
                Assert.Fail($"job {job} ended {current.Status} ({current.ErrorCode}: {current.ErrorMessage}), not {status}");
            return current.Status == status;
        }, timeout ?? JobTimeout);
        return seen;
    }

    private async Task WaitForAliveWorkersAsync(int count)
    {
        await PollAsync(async db =>
        {
            var ids = await db.Workers.AsNoTracking().Where(w => w.State != WorkerState.Stopped).Select(w => w.Id).ToListAsync(Ct);
            var alive = 0;
            foreach (var id in ids)
                if (await _redis.GetDatabase().KeyExistsAsync(RedisKeys.WorkerHeartbeat(id))) alive++;
            return alive >= count;
        }, TimeSpan.FromSeconds(60));
    }

    private async Task<T> PollAsync<T>(Func<PlatformDbContext, Task<T>> probe, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await using (var db = OpenDatabase())
            {
                var value = await probe(db);
                if (!EqualityComparer<T>.Default.Equals(value, default!)) return value;
            }
            if (deadline.Elapsed > timeout) throw new TimeoutException($"Condition not met within {timeout}.");
            await Task.Delay(100, Ct);
        }
    }

    private PlatformDbContext OpenDatabase() =>
        new(new DbContextOptionsBuilder<PlatformDbContext>().UseNpgsql(_database).UseSnakeCaseNamingConvention().Options);

    /// <summary>Processes whose parent is <paramref name="parentPid"/> and whose command line contains <paramref name="argument"/>.</summary>
    private static List<int> ChildProcesses(int parentPid, string argument)
    {
        var children = new List<int>();
        foreach (var folder in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(folder, "stat"));
                // Fields after the command name (which may hold spaces, inside parentheses): state, ppid, ...
                var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (parent == parentPid && File.ReadAllText(Path.Combine(folder, "cmdline")).Split('\0').Contains(argument)) children.Add(pid);
            }
            catch (IOException)
            {
                // The process ended while being read.
            }
        }
        return children;
    }
}
