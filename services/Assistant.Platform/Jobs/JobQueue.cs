using System.Diagnostics;
using System.Text.Json;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.Platform.Jobs;

/// <summary>What the trainers' stream carries: a job to run or an evaluation to score.</summary>
public enum WorkKind { Job, Evaluation }

public sealed record WorkItem(WorkKind Kind, string Id, RedisValue MessageId)
{
    public static WorkItem? From(StreamEntry entry)
    {
        var id = entry["id"];
        if (id.IsNullOrEmpty) return null;
        var kind = entry["kind"] == "evaluation" ? WorkKind.Evaluation : WorkKind.Job;
        return new WorkItem(kind, id!, entry.Id);
    }
}

/// <summary>Dispatch is paused: workers finish what they run and claim nothing new until it is resumed.</summary>
public sealed record DispatchPause(string PausedBy, string? Reason, DateTimeOffset Since);

/// <summary>A live update of a job, published on <see cref="RedisKeys.JobLive"/> and relayed by SSE.</summary>
public sealed record LiveUpdate(string Type, string JobId, JsonElement Data, DateTimeOffset At)
{
    public const string Status = "status", Metrics = "metrics", Event = "event";
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
    public static LiveUpdate? FromJson(string json) => JsonSerializer.Deserialize<LiveUpdate>(json, JsonOptions);
}

/// <summary>
/// The job protocol in one place. Postgres decides (every state change is a conditional UPDATE, so two
/// workers never run one job and a cancelled job is never started); Redis only carries ids and signals,
/// so losing it loses nothing: <see cref="ReconcileAsync"/> rebuilds the stream from Postgres.
/// </summary>
public sealed class JobQueue(IConnectionMultiplexer redis)
{
    public static readonly ActivitySource Activity = new("Assistant.Jobs");

    /// <summary>A queued job waiting this long while a worker is idle has lost its stream message.</summary>
    public static readonly TimeSpan StaleQueued = TimeSpan.FromMinutes(1);

    private IDatabase Redis => redis.GetDatabase();

    /// <summary>Puts a job (or an evaluation) on the stream and wakes idle workers.</summary>
    public async Task EnqueueAsync(WorkKind kind, string id)
    {
        var db = Redis;
        await db.StreamAddAsync(RedisKeys.JobStream, [new("kind", kind == WorkKind.Job ? "job" : "evaluation"), new("id", id)]);
        await db.StringSetAsync(RedisKeys.QueueSentinel, "1", when: When.NotExists);
        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(RedisKeys.JobNotifications), id);
    }

    /// <summary>Creates the consumer group (and the stream) if they do not exist.</summary>
    public async Task EnsureConsumerGroupAsync()
    {
        try
        {
            await Redis.StreamCreateConsumerGroupAsync(RedisKeys.JobStream, RedisKeys.TrainerGroup, StreamPosition.Beginning, createStream: true);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
        }
    }

    /// <summary>
    /// The next item for <paramref name="consumer"/>: first a message another consumer took and left
    /// idle longer than <paramref name="abandonedAfter"/> (its worker died before claiming it in Postgres),
    /// else a new one. Null when the stream is empty.
    /// </summary>
    public async Task<WorkItem?> ReadAsync(string consumer, TimeSpan abandonedAfter)
    {
        var db = Redis;
        var claimed = await db.StreamAutoClaimAsync(RedisKeys.JobStream, RedisKeys.TrainerGroup, consumer,
            (long)abandonedAfter.TotalMilliseconds, "0-0", count: 1);
        var entries = claimed.ClaimedEntries.Length > 0 ? claimed.ClaimedEntries
            : await db.StreamReadGroupAsync(RedisKeys.JobStream, RedisKeys.TrainerGroup, consumer, StreamPosition.NewMessages, count: 1);
        foreach (var entry in entries)
        {
            if (WorkItem.From(entry) is { } item) return item;
            await AcknowledgeAsync(entry.Id); // not ours to read: drop it
        }
        return null;
    }

    /// <summary>Removes a handled message from the pending list (after the job finished, or when it was not ours to run).</summary>
    public Task AcknowledgeAsync(RedisValue messageId) =>
        Redis.StreamAcknowledgeAsync(RedisKeys.JobStream, RedisKeys.TrainerGroup, messageId);

    /// <summary>
    /// Claims a queued job for <paramref name="workerId"/> with a lease, counting the attempt. False when
    /// the job is not queued any more (another worker has it, it was cancelled or it finished).
    /// </summary>
    public static async Task<bool> TryClaimAsync(PlatformDbContext db, string jobId, string workerId, TimeSpan lease, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var rows = await db.Jobs
            .Where(j => j.Id == jobId && j.Status == JobStatus.Queued && j.CancelRequestedAt == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Running)
                .SetProperty(j => j.WorkerId, workerId)
                .SetProperty(j => j.LeaseExpiresAt, now + lease)
                .SetProperty(j => j.Attempts, j => j.Attempts + 1)
                .SetProperty(j => j.StartedAt, j => j.StartedAt ?? now), ct);
        return rows == 1;
    }

    /// <summary>Extends the lease; false when this worker no longer holds it (expired and taken over, or the job ended).</summary>
    public static async Task<bool> RenewLeaseAsync(PlatformDbContext db, string jobId, string workerId, TimeSpan lease, CancellationToken ct)
    {
        var rows = await db.Jobs
            .Where(j => j.Id == jobId && j.WorkerId == workerId && j.Status == JobStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.LeaseExpiresAt, DateTimeOffset.UtcNow + lease), ct);
        return rows == 1;
    }

    /// <summary>
    /// Ends a running job held by <paramref name="workerId"/>: succeeded, failed (with an error) or
    /// cancelled. False when the worker lost its lease meanwhile (the job belongs to someone else now).
    /// </summary>
    public static async Task<bool> FinishAsync(PlatformDbContext db, string jobId, string workerId, string status,
        (string Code, string Message, string? Param)? error, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var rows = await db.Jobs
            .Where(j => j.Id == jobId && j.WorkerId == workerId && j.Status == JobStatus.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, status)
                .SetProperty(j => j.CompletedAt, now)
                .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null)
                .SetProperty(j => j.ErrorCode, error == null ? null : error.Value.Code)
                .SetProperty(j => j.ErrorMessage, error == null ? null : error.Value.Message)
                .SetProperty(j => j.ErrorParam, error == null ? null : error.Value.Param), ct);
        return rows == 1;
    }

    /// <summary>Claims a queued evaluation for <paramref name="workerId"/> with a lease; false when it is not queued any more.</summary>
    public static async Task<bool> TryClaimEvaluationAsync(PlatformDbContext db, string evaluationId, string workerId, TimeSpan lease, CancellationToken ct) =>
        await db.Evaluations
            .Where(e => e.Id == evaluationId && e.Status == EvaluationStatus.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(e => e.Status, EvaluationStatus.Running)
                .SetProperty(e => e.WorkerId, workerId)
                .SetProperty(e => e.LeaseExpiresAt, DateTimeOffset.UtcNow + lease), ct) == 1;

    /// <summary>Extends an evaluation's lease; false when this worker no longer holds it.</summary>
    public static async Task<bool> RenewEvaluationLeaseAsync(PlatformDbContext db, string evaluationId, string workerId, TimeSpan lease, CancellationToken ct) =>
        await db.Evaluations
            .Where(e => e.Id == evaluationId && e.WorkerId == workerId && e.Status == EvaluationStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(e => e.LeaseExpiresAt, DateTimeOffset.UtcNow + lease), ct) == 1;

    /// <summary>Records an evaluation's metrics (succeeded) or error (failed); false when the worker lost its lease meanwhile.</summary>
    public static async Task<bool> FinishEvaluationAsync(PlatformDbContext db, string evaluationId, string workerId, string? metricsJson, string? error, CancellationToken ct) =>
        await db.Evaluations
            .Where(e => e.Id == evaluationId && e.WorkerId == workerId && e.Status == EvaluationStatus.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(e => e.Status, error == null ? EvaluationStatus.Succeeded : EvaluationStatus.Failed)
                .SetProperty(e => e.Metrics, metricsJson)
                .SetProperty(e => e.ErrorMessage, error)
                .SetProperty(e => e.CompletedAt, DateTimeOffset.UtcNow)
                .SetProperty(e => e.LeaseExpiresAt, (DateTimeOffset?)null), ct) == 1;

    /// <summary>
    /// Hands a running job back to the queue because its worker is shutting down (not because the job
    /// failed): the attempt is not counted, and another worker resumes it from its latest checkpoint at
    /// once instead of after the lease expires. False when this worker no longer held it.
    /// </summary>
    public async Task<bool> ReleaseAsync(PlatformDbContext db, string jobId, string workerId, CancellationToken ct)
    {
        var released = await db.Jobs
            .Where(j => j.Id == jobId && j.WorkerId == workerId && j.Status == JobStatus.Running && j.CancelRequestedAt == null)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Queued)
                .SetProperty(j => j.QueuedAt, DateTimeOffset.UtcNow)
                .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null)
                .SetProperty(j => j.Attempts, j => j.Attempts - 1), ct) == 1;
        if (released)
        {
            await EnqueueAsync(WorkKind.Job, jobId);
            await PublishStatusAsync(jobId, JobStatus.Queued, new { reason = "worker_stopping", previous_worker = workerId });
        }
        return released;
    }

    public const string DispatchPausedSetting = "dispatch_paused";

    /// <summary>The pause in force, or null when workers take jobs. Postgres holds it, so it survives Redis and restarts.</summary>
    public static async Task<DispatchPause?> GetPauseAsync(PlatformDbContext db, CancellationToken ct)
    {
        var setting = await db.Settings.AsNoTracking().SingleOrDefaultAsync(s => s.Key == DispatchPausedSetting, ct);
        return setting is null ? null : JsonSerializer.Deserialize<DispatchPause>(setting.Value, LiveUpdate.JsonOptions);
    }

    /// <summary>
    /// Stops dispatch (maintenance, an upgrade, a cluster drain): running jobs go on, queued ones wait, new ones
    /// queue. Pausing again keeps the first pause's time and author.
    /// </summary>
    public static async Task<DispatchPause> PauseAsync(PlatformDbContext db, string by, string? reason, CancellationToken ct)
    {
        if (await GetPauseAsync(db, ct) is { } existing) return existing;
        var pause = new DispatchPause(by, reason, DateTimeOffset.UtcNow);
        db.Settings.Add(new PlatformSetting { Key = DispatchPausedSetting, Value = JsonSerializer.Serialize(pause, LiveUpdate.JsonOptions), UpdatedBy = by, UpdatedAt = pause.Since });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (ex.InnerException is Npgsql.PostgresException { SqlState: Npgsql.PostgresErrorCodes.UniqueViolation })
        {
            db.ChangeTracker.Clear(); // paused concurrently: one pause is enough
            return (await GetPauseAsync(db, ct))!;
        }
        return pause;
    }

    /// <summary>Lets workers take jobs again and wakes the idle ones.</summary>
    public async Task ResumeAsync(PlatformDbContext db, CancellationToken ct)
    {
        await db.Settings.Where(s => s.Key == DispatchPausedSetting).ExecuteDeleteAsync(ct);
        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(RedisKeys.JobNotifications), "resumed");
    }

    /// <summary>
    /// Asks a job to cancel. A job not yet running is cancelled at once; a running one is flagged (Postgres
    /// and Redis) and its worker stops it within one optimizer step. Returns the job's status afterwards,
    /// or null when it is already finished (nothing to cancel).
    /// </summary>
    public async Task<string?> CancelAsync(PlatformDbContext db, string jobId, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var pending = await db.Jobs
            .Where(j => j.Id == jobId && (j.Status == JobStatus.Queued || j.Status == JobStatus.ValidatingFiles))
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Cancelled)
                .SetProperty(j => j.CancelRequestedAt, now)
                .SetProperty(j => j.CompletedAt, now), ct);
        if (pending == 1)
        {
            await PublishStatusAsync(jobId, JobStatus.Cancelled);
            return JobStatus.Cancelled;
        }
        var running = await db.Jobs
            .Where(j => j.Id == jobId && j.Status == JobStatus.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.CancelRequestedAt, j => j.CancelRequestedAt ?? now), ct);
        if (running == 0) return null;
        await Redis.StringSetAsync(RedisKeys.JobCancel(jobId), "1", TimeSpan.FromDays(1));
        await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(RedisKeys.CancelNotifications), jobId);
        return JobStatus.Running;
    }

    /// <summary>Tells live followers (SSE) and dashboards that a job changed state.</summary>
    public async Task PublishStatusAsync(string jobId, string status, object? details = null)
    {
        var data = JsonSerializer.SerializeToElement(new { status, details }, LiveUpdate.JsonOptions);
        var update = new LiveUpdate(LiveUpdate.Status, jobId, data, DateTimeOffset.UtcNow).ToJson();
        var subscriber = redis.GetSubscriber();
        await subscriber.PublishAsync(RedisChannel.Literal(RedisKeys.JobLive(jobId)), update);
        await subscriber.PublishAsync(RedisChannel.Literal(RedisKeys.JobStatusChanges), update);
    }

    /// <summary>Publishes one live update of a job (metrics, an event).</summary>
    public Task PublishAsync(string jobId, string type, object data) =>
        redis.GetSubscriber().PublishAsync(RedisChannel.Literal(RedisKeys.JobLive(jobId)),
            new LiveUpdate(type, jobId, JsonSerializer.SerializeToElement(data, LiveUpdate.JsonOptions), DateTimeOffset.UtcNow).ToJson());

    /// <summary>
    /// Makes Redis agree with Postgres. Jobs whose worker stopped renewing its lease go back to the queue
    /// (or fail after <c>max_attempts</c>); if Redis lost its data, every queued job and evaluation is put on
    /// the stream again. Duplicate messages are harmless: a claim is a conditional update that only one wins.
    /// Returns the ids re-enqueued and the ids failed.
    /// </summary>
    public async Task<(List<string> Requeued, List<string> Failed)> ReconcileAsync(PlatformDbContext db, CancellationToken ct)
    {
        using var span = Activity.StartActivity("reconcile queue");
        var now = DateTimeOffset.UtcNow;
        var requeued = new List<string>();
        var failed = new List<string>();

        var expired = await db.Jobs.AsNoTracking()
            .Where(j => j.Status == JobStatus.Running && j.LeaseExpiresAt < now)
            .Select(j => new { j.Id, j.Attempts, j.MaxAttempts, j.WorkerId, j.CancelRequestedAt })
            .ToListAsync(ct);
        foreach (var job in expired)
        {
            var stillExpired = db.Jobs.Where(j => j.Id == job.Id && j.Status == JobStatus.Running && j.LeaseExpiresAt < now && j.WorkerId == job.WorkerId);
            if (job.CancelRequestedAt is not null)
            {
                if (await stillExpired.ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Cancelled).SetProperty(j => j.CompletedAt, now)
                        .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null), ct) == 1)
                    await PublishStatusAsync(job.Id, JobStatus.Cancelled);
            }
            else if (job.Attempts >= job.MaxAttempts)
            {
                var message = $"The job's worker {job.WorkerId} stopped responding on attempt {job.Attempts} of {job.MaxAttempts}; no attempts are left.";
                if (await stillExpired.ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Failed).SetProperty(j => j.CompletedAt, now)
                        .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null)
                        .SetProperty(j => j.ErrorCode, "worker_lost").SetProperty(j => j.ErrorMessage, message), ct) == 1)
                {
                    failed.Add(job.Id);
                    await PublishStatusAsync(job.Id, JobStatus.Failed);
                }
            }
            else if (await stillExpired.ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Queued).SetProperty(j => j.QueuedAt, now)
                         .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null), ct) == 1)
            {
                requeued.Add(job.Id);
                await EnqueueAsync(WorkKind.Job, job.Id);
                await PublishStatusAsync(job.Id, JobStatus.Queued, new { reason = "worker_lost", previous_worker = job.WorkerId });
            }
        }

        // A queued job whose message never reached the stream (the row said queued, then the enqueue failed
        // while Redis stayed up) would wait for ever. When a worker is idle and such a job has waited longer
        // than a claim ever takes, put it on the stream again; a duplicate is harmless.
        var staleBefore = now - StaleQueued;
        if (await GetPauseAsync(db, ct) is null && await db.Workers.AnyAsync(w => w.State == WorkerState.Idle && w.LastHeartbeatAt > staleBefore, ct))
        {
            var stale = await db.Jobs.AsNoTracking().Where(j => j.Status == JobStatus.Queued && j.QueuedAt < staleBefore)
                .OrderBy(j => j.QueuedAt).Select(j => j.Id).Take(100).ToListAsync(ct);
            foreach (var id in stale.Except(requeued))
            {
                if (await db.Jobs.Where(j => j.Id == id && j.Status == JobStatus.Queued && j.QueuedAt < staleBefore)
                        .ExecuteUpdateAsync(s => s.SetProperty(j => j.QueuedAt, now), ct) == 0) continue;
                await EnqueueAsync(WorkKind.Job, id);
                requeued.Add(id);
            }
        }

        var expiredEvaluations = await db.Evaluations.AsNoTracking()
            .Where(e => e.Status == EvaluationStatus.Running && e.LeaseExpiresAt < now).Select(e => e.Id).ToListAsync(ct);
        var requeuedEvaluations = new List<string>();
        foreach (var id in expiredEvaluations)
        {
            if (await db.Evaluations.Where(e => e.Id == id && e.Status == EvaluationStatus.Running && e.LeaseExpiresAt < now)
                    .ExecuteUpdateAsync(s => s.SetProperty(e => e.Status, EvaluationStatus.Queued).SetProperty(e => e.LeaseExpiresAt, (DateTimeOffset?)null), ct) == 1)
            {
                await EnqueueAsync(WorkKind.Evaluation, id);
                requeuedEvaluations.Add(id);
            }
        }

        if (!await Redis.KeyExistsAsync(RedisKeys.QueueSentinel))
        {
            await EnsureConsumerGroupAsync();
            var queued = await db.Jobs.AsNoTracking().Where(j => j.Status == JobStatus.Queued).OrderBy(j => j.QueuedAt).Select(j => j.Id).ToListAsync(ct);
            foreach (var id in queued.Except(requeued))
            {
                await EnqueueAsync(WorkKind.Job, id);
                requeued.Add(id);
            }
            var evaluations = await db.Evaluations.AsNoTracking().Where(e => e.Status == EvaluationStatus.Queued).Select(e => e.Id).ToListAsync(ct);
            foreach (var id in evaluations.Except(requeuedEvaluations)) await EnqueueAsync(WorkKind.Evaluation, id);
            await Redis.StringSetAsync(RedisKeys.QueueSentinel, "1");
        }
        span?.SetTag("jobs.requeued", requeued.Count);
        span?.SetTag("jobs.failed", failed.Count);
        return (requeued, failed);
    }
}
