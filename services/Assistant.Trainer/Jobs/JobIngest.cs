using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Assistant.Modeling.Training;
using Assistant.Platform.Alerts;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Trainer.JobProcesses;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Assistant.Trainer.Jobs;

/// <summary>An event to record for a job (OpenAI's job events: level, type, message, data).</summary>
internal sealed record JobEventDraft(string Level, string Type, string Message, object? Data = null);

/// <summary>
/// Turns what a job process reports into the job's record: step metrics into <c>job_metrics</c> (batched),
/// events into <c>job_events</c>, checkpoints into S3 and <c>job_checkpoints</c>, progress onto the job row,
/// live updates onto Redis, and losses through the alert rules.
/// </summary>
internal sealed class JobIngest : IAsyncDisposable
{
    /// <summary>Samples kept in an event's data: enough to read, small enough for a row and a live update.</summary>
    private const int SamplesPerEvent = 20;
    private const int UploadAttempts = 3;

    private static readonly JsonSerializerOptions Json = LiveUpdate.JsonOptions;

    private readonly TrainingJob _job;
    private readonly JobQueue _queue;
    private readonly WorkerIdentity _worker;
    private readonly TrainerOptions _options;
    private readonly ILogger _logger;
    private readonly AsyncServiceScope _scope;
    private readonly PlatformDbContext _db;
    private readonly JobMetricsWriter _metrics;
    private readonly LossWatch _losses;
    private readonly SortedDictionary<string, double> _latest = new(StringComparer.Ordinal);
    private readonly List<(string Path, string Name)> _pathNames = [];
    private readonly KeyValuePair<string, object?> _jobTag;
    private int _step, _totalSteps;
    private long _trainedTokens;
    private bool _progressChanged;
    private DateTimeOffset _lastMessageAt = DateTimeOffset.UtcNow;

    public JobIngest(TrainingJob job, IServiceScopeFactory scopes, JobQueue queue, WorkerIdentity worker, TrainerOptions options, ILogger logger)
    {
        (_job, _queue, _worker, _options, _logger) = (job, queue, worker, options, logger);
        _scope = scopes.CreateAsyncScope();
        _db = _scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        _metrics = new JobMetricsWriter(_db.Database.GetConnectionString()!, job.Id);
        _losses = new LossWatch(EvalPatience(job.Hyperparameters));
        _jobTag = new("job.id", job.Id);
        (_step, _totalSteps, _trainedTokens) = (job.Step, job.TotalSteps, job.TrainedTokens);
        foreach (var (key, value) in ReadMetrics(job.Metrics)) _latest[key] = value;
    }

    public IServiceProvider Services => _scope.ServiceProvider;
    public PlatformDbContext Db => _db;

    /// <summary>Latest value of every metric, as the job's and the model version's <c>metrics</c> object.</summary>
    public string LatestMetricsJson => JsonSerializer.Serialize(_latest, Json);

    /// <summary>Local paths in the process's messages are shown as what they are to the user (dataset refs, checkpoint names).</summary>
    public void NamePath(string path, string name)
    {
        _pathNames.Add((path, name));
        _pathNames.Sort((a, b) => b.Path.Length.CompareTo(a.Path.Length));
    }

    public string Readable(string text)
    {
        foreach (var (path, name) in _pathNames) text = text.Replace(path, name, StringComparison.Ordinal);
        return text;
    }

    public JobError Describe(JobError error) => error with { Message = Readable(error.Message) };

    /// <summary>
    /// Makes the job's records agree with where this attempt starts: step metrics after <paramref name="step"/>
    /// (written by an attempt that died later) are removed, so the series continues from the checkpoint's step
    /// without duplicates, and the progress counters go back to that step.
    /// </summary>
    public async Task StartAttemptAtAsync(int step, CancellationToken ct)
    {
        var fresh = step == 0;
        await _db.JobMetrics.Where(m => m.JobId == _job.Id && (fresh || m.Step > step)).ExecuteDeleteAsync(ct);
        _trainedTokens = fresh ? 0 : await _db.JobMetrics.AsNoTracking()
            .Where(m => m.JobId == _job.Id && m.Key == "trained_tokens" && m.Step <= step)
            .OrderByDescending(m => m.Step).Select(m => (long)m.Value).FirstOrDefaultAsync(ct);
        _step = step;
        if (fresh) _latest.Clear();
        _progressChanged = true;
        await FlushAsync(ct);
    }

    /// <summary>Reads the process's messages until it closes stdout; returns its result line, if it wrote one.</summary>
    public async Task<JobProcessResult?> ConsumeAsync(JobProcess process, JobWorkspace workspace, CancellationToken ct)
    {
        JobProcessResult? result = null;
        var reader = process.Messages;
        var nextFlush = DateTimeOffset.UtcNow + _options.MetricsFlushInterval;
        while (true)
        {
            bool more;
            using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                wait.CancelAfter(Max(nextFlush - DateTimeOffset.UtcNow, TimeSpan.Zero));
                try
                {
                    more = await reader.WaitToReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    more = true; // the flush interval passed with nothing new
                }
            }
            if (!more) break;
            while (reader.TryRead(out var message))
            {
                if (message.Result is not null) result = message.Result;
                else if (message.Event is { } e) await HandleAsync(e, process, ct);
                _lastMessageAt = DateTimeOffset.UtcNow;
            }
            if (_metrics.Pending >= _options.MetricsFlushPoints || DateTimeOffset.UtcNow >= nextFlush)
            {
                await TryFlushAsync(ct);
                nextFlush = DateTimeOffset.UtcNow + _options.MetricsFlushInterval;
            }
        }
        await FlushAsync(ct);
        return result;
    }

    private async Task HandleAsync(TrainingEvent e, JobProcess process, CancellationToken ct)
    {
        switch (e)
        {
            case StepMetrics s:
                await OnStepAsync(s, ct);
                break;
            case EvalMetrics v:
                await OnEvalAsync(v, ct);
                break;
            case TestMetrics t:
                await OnTestAsync(t, ct);
                break;
            case CheckpointSaved c:
                await OnCheckpointAsync(c, ct);
                // Only now may the trainer go on (and prune this folder): it is in S3 and recorded.
                await process.SendAsync(JobProcessProtocol.Ack);
                break;
            case StatusMessage m:
                await AddEventAsync(EventLevel.Info, "message", Readable(m.Message), new { step = m.Step }, ct);
                break;
        }
    }

    private async Task OnStepAsync(StepMetrics s, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        // Only logged steps are reported: the steps in between are counted at this step's size.
        var stepTokens = s.TokensPerSecond * s.StepTimeMs / 1000;
        _trainedTokens += (long)Math.Round(stepTokens * Math.Max(1, s.Step - _step));
        (_step, _totalSteps, _progressChanged) = (s.Step, s.TotalSteps, true);
        Record(s.Step, now,
            ("train_loss", s.TrainLoss), ("train_mean_token_accuracy", s.TrainMeanTokenAccuracy), ("learning_rate", s.LearningRate),
            ("grad_norm", s.GradNorm), ("tokens_per_second", s.TokensPerSecond), ("mfu", s.Mfu), ("step_time_ms", s.StepTimeMs),
            ("memory_mb", s.MemoryMb), ("epoch", s.Epoch), ("trained_tokens", _trainedTokens));

        TrainerTelemetry.TrainLoss.Record(s.TrainLoss, _jobTag);
        TrainerTelemetry.TokensPerSecond.Record(s.TokensPerSecond, _jobTag);
        TrainerTelemetry.StepTime.Record(s.StepTimeMs, _jobTag);

        await PublishAsync(LiveUpdate.Metrics, new
        {
            step = s.Step, total_steps = s.TotalSteps, trained_tokens = _trainedTokens,
            metrics = new
            {
                train_loss = Finite(s.TrainLoss), train_mean_token_accuracy = Finite(s.TrainMeanTokenAccuracy), learning_rate = s.LearningRate,
                grad_norm = Finite(s.GradNorm), tokens_per_second = s.TokensPerSecond, mfu = s.Mfu, step_time_ms = s.StepTimeMs,
                memory_mb = s.MemoryMb, epoch = s.Epoch,
            },
        });
        if (_losses.ObserveTrainLoss(s.Step, s.TrainLoss) is { } spike)
        {
            await AddEventAsync(EventLevel.Warn, "message", spike, new { step = s.Step, train_loss = s.TrainLoss }, ct);
            await RaiseAsync(AlertKind.LossSpike, AlertSeverity.Warning, spike, new { step = s.Step, train_loss = s.TrainLoss }, ct);
        }
    }

    private async Task OnEvalAsync(EvalMetrics v, CancellationToken ct)
    {
        // The process reports an evaluation when it is done: it ran since the previous message.
        using (var span = TrainerTelemetry.Source.StartActivity("evaluate", ActivityKind.Internal, Activity.Current?.Context ?? default, startTime: _lastMessageAt.UtcDateTime))
        {
            span?.SetTag("job.step", v.Step);
            span?.SetTag("valid_loss", v.ValidLoss);
        }
        var now = DateTimeOffset.UtcNow;
        Record(v.Step, now, ("valid_loss", v.ValidLoss), ("valid_perplexity", v.Perplexity), ("valid_mean_token_accuracy", v.ValidMeanTokenAccuracy));
        _progressChanged = true;
        var message = Invariant($"Step {v.Step}: valid_loss {v.ValidLoss:F4}, perplexity {v.Perplexity:F2}, token accuracy {v.ValidMeanTokenAccuracy * 100:F1}%");
        await AddEventAsync(EventLevel.Info, "eval", message, new
        {
            step = v.Step, epoch = v.Epoch, valid_loss = Finite(v.ValidLoss), valid_perplexity = Finite(v.Perplexity),
            valid_mean_token_accuracy = Finite(v.ValidMeanTokenAccuracy), samples = v.Samples.Take(SamplesPerEvent),
        }, ct);
        if (_losses.ObserveValidLoss(v.Step, v.ValidLoss) is { } rising)
        {
            await AddEventAsync(EventLevel.Warn, "message", rising, new { step = v.Step, valid_loss = v.ValidLoss }, ct);
            await RaiseAsync(AlertKind.EvalLossRising, AlertSeverity.Warning, rising, new { step = v.Step, valid_loss = v.ValidLoss }, ct);
        }
    }

    private async Task OnTestAsync(TestMetrics t, CancellationToken ct)
    {
        Record(t.Step, DateTimeOffset.UtcNow, ("test_loss", t.TestLoss), ("test_perplexity", t.TestPerplexity),
            ("test_mean_token_accuracy", t.TestMeanTokenAccuracy), ("exact_match", t.ExactMatch), ("rouge_l", t.RougeL));
        _progressChanged = true;
        var message = Invariant($"Test: loss {t.TestLoss:F4}, exact match {t.ExactMatch * 100:F1}%, ROUGE-L {t.RougeL:F3} on {t.Examples} examples");
        await AddEventAsync(EventLevel.Info, "test", message, new
        {
            step = t.Step, test_loss = Finite(t.TestLoss), test_perplexity = Finite(t.TestPerplexity),
            test_mean_token_accuracy = Finite(t.TestMeanTokenAccuracy), exact_match = t.ExactMatch, rouge_l = t.RougeL,
            examples = t.Examples, samples = t.Samples.Take(SamplesPerEvent),
        }, ct);
    }

    /// <summary>
    /// Uploads the checkpoint folder and records it. The step's metrics are flushed first, so a checkpoint
    /// row never points at a step whose metrics are missing.
    /// </summary>
    private async Task OnCheckpointAsync(CheckpointSaved c, CancellationToken ct)
    {
        await FlushAsync(ct);
        var name = CheckpointStore.NameFor(c.Step);
        var prefix = TrainingJob.CheckpointPrefix(_job.Id, name);
        using (var span = TrainerTelemetry.Source.StartActivity("upload checkpoint"))
        {
            span?.SetTag("job.step", c.Step);
            span?.SetTag("s3.prefix", prefix);
            var registry = Services.GetRequiredService<ModelRegistry>();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await registry.UploadFolderAsync(c.Path, prefix, ct);
                    break;
                }
                catch (Exception e) when (e is Amazon.Runtime.AmazonServiceException or IOException or HttpRequestException && attempt < UploadAttempts)
                {
                    _logger.LogWarning(e, "Job {JobId}: uploading {Checkpoint} failed (attempt {Attempt}); retrying", _job.Id, name, attempt);
                    await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
                }
            }
        }

        var metrics = CheckpointMetrics(c.Step);
        var row = await _db.JobCheckpoints.SingleOrDefaultAsync(x => x.JobId == _job.Id && x.Step == c.Step, ct);
        if (row is null)
        {
            row = new JobCheckpoint { Id = Guid.NewGuid(), JobId = _job.Id, Step = c.Step, ObjectPrefix = prefix, Metrics = metrics, CreatedAt = DateTimeOffset.UtcNow };
            _db.JobCheckpoints.Add(row);
        }
        (row.ObjectPrefix, row.Metrics, row.IsBest) = (prefix, metrics, c.IsBest);
        if (c.IsBest)
            await _db.JobCheckpoints.Where(x => x.JobId == _job.Id && x.Step != c.Step && x.IsBest).ExecuteUpdateAsync(s => s.SetProperty(x => x.IsBest, false), ct);
        await _db.SaveChangesAsync(ct);
        _db.ChangeTracker.Clear();
        await AddEventAsync(EventLevel.Info, "checkpoint", $"Checkpoint at step {c.Step} saved{(c.IsBest ? " (best valid_loss so far)" : "")}",
            new { step = c.Step, checkpoint = name, is_best = c.IsBest, metrics = JsonDocument.Parse(metrics).RootElement }, ct);
    }

    /// <summary>OpenAI's checkpoint metrics: the latest train and valid figures at the time of the checkpoint.</summary>
    private string CheckpointMetrics(int step)
    {
        var metrics = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["step"] = step };
        foreach (var key in (string[])["train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"])
            if (_latest.TryGetValue(key, out var value)) metrics[key] = value;
        return JsonSerializer.Serialize(metrics, Json);
    }

    private void Record(int step, DateTimeOffset at, params (string Key, double Value)[] points)
    {
        foreach (var (key, value) in points)
        {
            _metrics.Add(key, step, value, at);
            if (double.IsFinite(value)) _latest[key] = value;
        }
    }

    /// <summary>Writes buffered metrics and the job's progress. Throws when Postgres cannot take them.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        await _metrics.FlushAsync(ct);
        if (!_progressChanged) return;
        var (step, total, tokens, metrics) = (_step, _totalSteps, _trainedTokens, LatestMetricsJson);
        await _db.Jobs.Where(j => j.Id == _job.Id && j.WorkerId == _worker.Id && j.Status == JobStatus.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Step, step)
                .SetProperty(j => j.TotalSteps, total)
                .SetProperty(j => j.TrainedTokens, tokens)
                .SetProperty(j => j.Metrics, metrics), ct);
        _progressChanged = false;
    }

    /// <summary>A flush during training: a Postgres hiccup keeps the points for the next one instead of failing the job.</summary>
    private async Task TryFlushAsync(CancellationToken ct)
    {
        try
        {
            await FlushAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or DbUpdateException or TimeoutException or InvalidOperationException && !ct.IsCancellationRequested)
        {
            _logger.LogWarning(e, "Job {JobId}: writing {Points} metric points failed; keeping them for the next flush", _job.Id, _metrics.Pending);
        }
    }

    public async Task AddEventAsync(string level, string type, string message, object? data, CancellationToken ct)
    {
        var row = NewEvent(new JobEventDraft(level, type, message, data));
        _db.JobEvents.Add(row);
        await _db.SaveChangesAsync(ct);
        _db.ChangeTracker.Clear();
        await PublishEventAsync(row);
    }

    /// <summary>
    /// Ends the job (a conditional update: false when this worker lost its lease) together with its last
    /// events, in one transaction: whoever sees the final status also finds the events that explain it.
    /// </summary>
    public async Task<bool> FinishAsync(string status, JobError? error, IReadOnlyList<JobEventDraft> events, CancellationToken ct)
    {
        List<JobEvent> rows = [];
        var strategy = _db.Database.CreateExecutionStrategy();
        var finished = await strategy.ExecuteAsync(async () =>
        {
            _db.ChangeTracker.Clear();
            rows = events.Select(NewEvent).ToList(); // fresh entities per attempt: a retried unit must not reuse assigned ids
            await using var transaction = await _db.Database.BeginTransactionAsync(ct);
            _db.JobEvents.AddRange(rows);
            await _db.SaveChangesAsync(ct);
            var ended = await JobQueue.FinishAsync(_db, _job.Id, _worker.Id, status,
                error is null ? null : (error.Code, Truncate(error.Message, 4000), error.Param), ct);
            if (ended) await transaction.CommitAsync(ct);
            else await transaction.RollbackAsync(ct);
            return ended;
        });
        _db.ChangeTracker.Clear();
        if (!finished) return false;
        foreach (var row in rows) await PublishEventAsync(row);
        return true;
    }

    private JobEvent NewEvent(JobEventDraft draft) => new()
    {
        JobId = _job.Id, Level = draft.Level, Type = draft.Type, Message = draft.Message,
        Data = draft.Data is null ? null : JsonSerializer.Serialize(draft.Data, Json), CreatedAt = DateTimeOffset.UtcNow,
    };

    private Task PublishEventAsync(JobEvent row) => PublishAsync(LiveUpdate.Event, new
    {
        id = row.Id, created_at = row.CreatedAt, level = row.Level, type = row.Type, message = row.Message,
        data = row.Data is null ? (JsonElement?)null : JsonDocument.Parse(row.Data).RootElement,
    });

    public static string Truncate(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";

    public async Task RaiseAsync(string kind, string severity, string message, object? data, CancellationToken ct)
    {
        try
        {
            await Services.GetRequiredService<AlertBook>().RaiseAsync(kind, severity, _job.Id, message, _job.Id, _worker.Id, data, ct);
        }
        catch (Exception e) when (e is NpgsqlException or DbUpdateException && !ct.IsCancellationRequested)
        {
            _logger.LogWarning(e, "Job {JobId}: could not raise alert {Kind}", _job.Id, kind);
        }
    }

    /// <summary>Live updates are a courtesy to followers: Redis being away never stops the job.</summary>
    public async Task PublishAsync(string type, object data)
    {
        try
        {
            await _queue.PublishAsync(_job.Id, type, data);
        }
        catch (StackExchange.Redis.RedisException e)
        {
            _logger.LogDebug(e, "Job {JobId}: live update not published", _job.Id);
        }
    }

    public async Task PublishStatusAsync(string status, object? details)
    {
        try
        {
            await _queue.PublishStatusAsync(_job.Id, status, details);
        }
        catch (StackExchange.Redis.RedisException e)
        {
            _logger.LogDebug(e, "Job {JobId}: status update not published", _job.Id);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _metrics.DisposeAsync();
        await _scope.DisposeAsync();
    }

    /// <summary>valid_loss rising this many evaluations in a row raises an alert: the run's early-stopping patience, else 3.</summary>
    private static int EvalPatience(string hyperparameters)
    {
        try
        {
            using var document = JsonDocument.Parse(hyperparameters);
            return document.RootElement.TryGetProperty("early_stopping_patience", out var p) && p.TryGetInt32(out var patience) && patience > 0 ? patience : 3;
        }
        catch (JsonException)
        {
            return 3;
        }
    }

    private static IEnumerable<(string Key, double Value)> ReadMetrics(string json)
    {
        List<(string, double)> values = [];
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return values;
            foreach (var property in document.RootElement.EnumerateObject())
                if (property.Value.TryGetDouble(out var value)) values.Add((property.Name, value));
        }
        catch (JsonException)
        {
        }
        return values;
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
