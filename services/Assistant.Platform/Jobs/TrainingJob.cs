namespace Assistant.Platform.Jobs;

/// <summary>OpenAI fine-tuning states: <c>validating_files -> queued -> running -> succeeded | failed | cancelled</c>.</summary>
public static class JobStatus
{
    public const string ValidatingFiles = "validating_files";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static IReadOnlyList<string> All { get; } = [ValidatingFiles, Queued, Running, Succeeded, Failed, Cancelled];

    public static bool IsFinished(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>
/// A fine-tuning (or pretraining) job: what to train, on what, how, and where it stands. Postgres is its
/// system of record; the Redis stream only carries its id to a worker.
/// </summary>
public sealed class TrainingJob
{
    /// <summary><c>ftjob-</c> followed by 24 lowercase hex digits.</summary>
    public required string Id { get; set; }
    public string Status { get; set; } = JobStatus.ValidatingFiles;
    /// <summary>pretrain, full or lora.</summary>
    public required string Method { get; set; }

    /// <summary>The base model as the client named it (<c>starter</c>, <c>name@3</c>, <c>name:production</c>).</summary>
    public required string BaseModel { get; set; }
    public Guid BaseModelVersionId { get; set; }

    // What the job reads: dataset versions as resolved at creation (never "latest" at run time), and the blobs.
    public Guid TrainDatasetVersionId { get; set; }
    public Guid? ValidationDatasetVersionId { get; set; }
    public Guid? TestDatasetVersionId { get; set; }
    /// <summary>When the data is a split of one version, the split used (train/validation/test parts).</summary>
    public Guid? DatasetSplitId { get; set; }
    public required string TrainSha256 { get; set; }
    public string? ValidationSha256 { get; set; }
    public string? TestSha256 { get; set; }
    /// <summary>Readable references for lists and lineage, e.g. <c>{"train":"support@2","validation":"support@2#split"}</c>.</summary>
    public required string DatasetRefs { get; set; }

    /// <summary>The full <c>TrainingConfig</c> as JSON (snake_case), defaults filled in.</summary>
    public required string Hyperparameters { get; set; }
    public long Seed { get; set; }
    public string? Suffix { get; set; }
    public int MaxAttempts { get; set; } = 3;
    public int Attempts { get; set; }

    /// <summary>A sweep this job belongs to.</summary>
    public Guid? GroupId { get; set; }

    // Where it runs.
    public string? WorkerId { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public DateTimeOffset? CancelRequestedAt { get; set; }

    // Progress and outcome.
    public int Step { get; set; }
    public int TotalSteps { get; set; }
    public long TrainedTokens { get; set; }
    /// <summary>Latest value of each metric (train_loss, valid_loss, ...) as a JSON object: the seed's <c>metrics</c>.</summary>
    public string Metrics { get; set; } = "{}";
    public string? ErrorCode { get; set; }
    public string? ErrorMessage { get; set; }
    public string? ErrorParam { get; set; }
    public Guid? ResultModelVersionId { get; set; }

    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? QueuedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }

    public static string NewId() => "ftjob-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));

    /// <summary>S3 prefix of the HF folder a succeeded job exported (what its model version points at).</summary>
    public static string ModelPrefix(string jobId) => $"jobs/{jobId}/model/";

    /// <summary>S3 prefix of one checkpoint folder of a job (<c>checkpoint-N</c>).</summary>
    public static string CheckpointPrefix(string jobId, string checkpointName) => $"jobs/{jobId}/checkpoints/{checkpointName}/";
}

/// <summary>Something that happened to a job, for people (OpenAI's job events: level, type, message, data).</summary>
public sealed class JobEvent
{
    public long Id { get; set; }
    public required string JobId { get; set; }
    /// <summary>info, warn or error.</summary>
    public required string Level { get; set; }
    /// <summary>status, message, eval, checkpoint, test, metrics...</summary>
    public required string Type { get; set; }
    public required string Message { get; set; }
    /// <summary>Structured details as JSON, or null.</summary>
    public string? Data { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public static class EventLevel
{
    public const string Info = "info";
    public const string Warn = "warn";
    public const string Error = "error";
}

/// <summary>One value of one metric at one optimizer step. Written in batches (binary COPY), never row by row.</summary>
public sealed class JobMetric
{
    public required string JobId { get; set; }
    public required string Key { get; set; }
    public int Step { get; set; }
    public double Value { get; set; }
    public DateTimeOffset RecordedAt { get; set; }
}

/// <summary>A checkpoint of a job, stored in S3 as a folder; usable as a model and as the point a resume starts from.</summary>
public sealed class JobCheckpoint
{
    public Guid Id { get; set; }
    public required string JobId { get; set; }
    public int Step { get; set; }
    /// <summary>S3 prefix of the checkpoint folder (ends with '/').</summary>
    public required string ObjectPrefix { get; set; }
    /// <summary>OpenAI's checkpoint metrics (train_loss, train_mean_token_accuracy, valid_loss, valid_mean_token_accuracy) as JSON.</summary>
    public required string Metrics { get; set; }
    public bool IsBest { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A hyperparameter sweep: one request, many jobs; the best job is the one with the lowest valid_loss.</summary>
public sealed class JobGroup
{
    public Guid Id { get; set; }
    public string? Name { get; set; }
    /// <summary>grid or random.</summary>
    public required string Search { get; set; }
    /// <summary>The searched hyperparameters and their values, as JSON.</summary>
    public required string Space { get; set; }
    public string Objective { get; set; } = "valid_loss";
    /// <summary>The cap on trials the request gave (random search draws this many), or null.</summary>
    public int? MaxTrials { get; set; }
    /// <summary>The seed every trial shares and random search draws from: the sweep can be repeated exactly.</summary>
    public long Seed { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

public static class EvaluationStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>A finished job's model scored on a dataset version; runs on a trainer worker like a job.</summary>
public sealed class Evaluation
{
    /// <summary><c>eval-</c> followed by 24 lowercase hex digits.</summary>
    public required string Id { get; set; }
    public required string JobId { get; set; }
    public Guid ModelVersionId { get; set; }
    public Guid DatasetVersionId { get; set; }
    public required string DatasetRef { get; set; }
    public required string DatasetSha256 { get; set; }
    public string Status { get; set; } = EvaluationStatus.Queued;
    /// <summary>test_loss, test_perplexity, test_mean_token_accuracy, exact_match, rouge_l, examples (JSON).</summary>
    public string? Metrics { get; set; }
    public string? ErrorMessage { get; set; }
    public string? WorkerId { get; set; }
    public DateTimeOffset? LeaseExpiresAt { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? CompletedAt { get; set; }

    public static string NewId() => "eval-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
}
