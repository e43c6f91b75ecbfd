namespace Assistant.Platform.Workers;

/// <summary>Names of everything the platform keeps in Redis; Redis never holds the only copy of a fact.</summary>
public static class RedisKeys
{
    public const string ConnectionName = "redis";

    /// <summary>Stream of job ids, consumed by the trainers' group.</summary>
    public const string JobStream = "assistant:jobs";
    public const string TrainerGroup = "trainers";

    /// <summary>
    /// Channel published after a job id is added to <see cref="JobStream"/>, so idle workers wake at once
    /// instead of polling the stream often (they still poll slowly in case a notice is lost).
    /// </summary>
    public const string JobNotifications = "assistant:jobs:notify";

    /// <summary>Key that exists while a worker is alive (refreshed with a TTL).</summary>
    public static string WorkerHeartbeat(string workerId) => $"assistant:workers:{workerId}:heartbeat";
    public const string WorkerHeartbeatPattern = "assistant:workers:*:heartbeat";
}
