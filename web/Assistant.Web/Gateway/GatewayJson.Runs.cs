using System.Text.Json;

namespace Assistant.Web.Gateway;

/// <summary>One metric of several jobs on shared steps: <c>Series[job][i]</c> is the job's value at <c>Steps[i]</c>, null where it has none.</summary>
public sealed record AlignedSeries(IReadOnlyList<int> Steps, IReadOnlyDictionary<string, IReadOnlyList<double?>> Series);

/// <summary><c>GET /api/jobs/compare</c>: the hyperparameters that differ (per key, per job) and the metric series aligned by step.</summary>
public sealed record JobComparison(
    IReadOnlyList<string> Jobs, IReadOnlyDictionary<string, IReadOnlyDictionary<string, JsonElement>> Hyperparameters,
    IReadOnlyDictionary<string, AlignedSeries> Metrics);

public sealed record Sweep(
    Guid Id, string? Name, string Search, JsonElement Parameters, int? MaxTrials, long Seed, string Objective, IReadOnlyList<Job> Jobs,
    string? BestJobId, double? BestValidLoss, string CreatedBy, DateTimeOffset CreatedAt);

public sealed record Evaluation(
    string Id, string JobId, ModelRef? Model, string Dataset, string Status, JsonElement? Metrics, string? Error, DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt)
{
    public bool IsFinished => Status is "succeeded" or "failed" or "cancelled";
}

/// <summary>An alert with its acknowledgement (the dashboard's <see cref="Alert"/> leaves that out).</summary>
public sealed record AlertEntry(
    long Id, string Kind, string Severity, string Subject, string Message, string? JobId, string? WorkerId, DateTimeOffset CreatedAt,
    bool Acknowledged, DateTimeOffset? AcknowledgedAt, string? AcknowledgedBy);

public sealed record Webhook(Guid Id, string Url, IReadOnlyList<string> Kinds, bool HasSecret, bool Enabled, DateTimeOffset CreatedAt);
