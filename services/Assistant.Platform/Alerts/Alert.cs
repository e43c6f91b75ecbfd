namespace Assistant.Platform.Alerts;

/// <summary>The rules the platform evaluates.</summary>
public static class AlertKind
{
    public const string NanLoss = "nan_loss";
    public const string LossSpike = "loss_spike";
    public const string WorkerSilent = "worker_silent";
    public const string EvalLossRising = "eval_loss_rising";
    public const string JobFailed = "job_failed";
    public const string JobFinished = "job_finished";

    public static IReadOnlyList<string> All { get; } = [NanLoss, LossSpike, WorkerSilent, EvalLossRising, JobFailed, JobFinished];
}

/// <summary>A rule that fired. One alert per (kind, subject): a rule firing again does not duplicate it.</summary>
public sealed class Alert
{
    public long Id { get; set; }
    public required string Kind { get; set; }
    /// <summary>info, warning or critical.</summary>
    public required string Severity { get; set; }
    public string? JobId { get; set; }
    public string? WorkerId { get; set; }
    /// <summary>What the alert is about, unique per kind: a job id, a worker id.</summary>
    public required string Subject { get; set; }
    public required string Message { get; set; }
    public string? Data { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? AcknowledgedAt { get; set; }
    public string? AcknowledgedBy { get; set; }
}

/// <summary>An HTTP endpoint that receives alerts as JSON POSTs.</summary>
public sealed class Webhook
{
    public Guid Id { get; set; }
    public required string Url { get; set; }
    /// <summary>Alert kinds delivered; empty = all.</summary>
    public string[] Kinds { get; set; } = [];
    /// <summary>Signs each body (HMAC-SHA256 in <c>X-Assistant-Signature</c>) when set.</summary>
    public string? Secret { get; set; }
    public bool Enabled { get; set; } = true;
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>One alert to one webhook: an outbox row retried with backoff until delivered or given up.</summary>
public sealed class WebhookDelivery
{
    public long Id { get; set; }
    public long AlertId { get; set; }
    public Guid WebhookId { get; set; }
    /// <summary>pending, delivered or failed.</summary>
    public string Status { get; set; } = "pending";
    public int Attempts { get; set; }
    public DateTimeOffset NextAttemptAt { get; set; }
    public int? LastStatusCode { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset? DeliveredAt { get; set; }
}
