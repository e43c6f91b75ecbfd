namespace Assistant.Platform.Workers;

/// <summary>Names of everything the platform keeps in Redis; Redis never holds the only copy of a fact.</summary>
public static class RedisKeys
{
    public const string ConnectionName = "redis";

    /// <summary>Stream of work for trainers: fields <c>kind</c> (job or evaluation) and <c>id</c>.</summary>
    public const string JobStream = "assistant:jobs";
    public const string TrainerGroup = "trainers";

    /// <summary>
    /// Channel published after a job id is added to <see cref="JobStream"/>, so idle workers wake at once
    /// instead of polling the stream often (they still poll slowly in case a notice is lost).
    /// </summary>
    public const string JobNotifications = "assistant:jobs:notify";

    /// <summary>
    /// A key that exists while Redis holds the queue. It is written with the stream and never expires, so
    /// if it is gone Redis lost its data (flush, restart without persistence) and the reconciler rebuilds
    /// the stream from Postgres.
    /// </summary>
    public const string QueueSentinel = "assistant:jobs:sentinel";

    /// <summary>Key that exists while a worker is alive (refreshed with a TTL).</summary>
    public static string WorkerHeartbeat(string workerId) => $"assistant:workers:{workerId}:heartbeat";
    public const string WorkerHeartbeatPattern = "assistant:workers:*:heartbeat";

    /// <summary>Set (with a TTL) when a running job is asked to cancel; Postgres holds the request too.</summary>
    public static string JobCancel(string jobId) => $"assistant:jobs:{jobId}:cancel";

    /// <summary>Channel carrying the ids of jobs asked to cancel, so their worker reacts at once.</summary>
    public const string CancelNotifications = "assistant:jobs:cancel";

    /// <summary>
    /// Live updates of one job (status changes, metrics, events) as JSON <see cref="Jobs.LiveUpdate"/>
    /// messages; the API's SSE endpoint relays them.
    /// </summary>
    public static string JobLive(string jobId) => $"assistant:jobs:{jobId}:live";

    /// <summary>Channel of every job's status changes (dashboards, the alert monitor).</summary>
    public const string JobStatusChanges = "assistant:jobs:status";

    /// <summary>
    /// Channel telling inference replicas that an alias moved: JSON <c>{model, alias, version}</c>, version null when the
    /// alias was removed (the training API's Deployments publishes here). The alias in Postgres is the record.
    /// </summary>
    public const string Deployments = "assistant:deployments";

    /// <summary>
    /// Hash of inference replicas: field = replica id, value = JSON of what it serves (models, versions, load
    /// state, requests running and waiting) with <c>updated_at</c>; replicas rewrite theirs every few seconds and a
    /// field older than <c>InferenceReplicaStaleAfter</c> is a replica that is gone.
    /// </summary>
    public const string InferenceReplicas = "assistant:inference:replicas";
    public static readonly TimeSpan InferenceReplicaStaleAfter = TimeSpan.FromSeconds(20);

    /// <summary>Channel carrying the ids of API keys just revoked, so every gateway replica forgets them at once.</summary>
    public const string ApiKeyRevocations = "assistant:keys:revoked";
}
