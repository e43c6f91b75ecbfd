namespace Assistant.TrainingApi.Background;

/// <summary>Cadence of the API's background duties (bound from <c>Monitoring</c>).</summary>
public sealed class MonitoringOptions
{
    /// <summary>How often Redis is made to agree with Postgres (expired leases, a lost stream).</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan WorkerCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A worker whose last heartbeat is older than this raises <c>worker_silent</c>.</summary>
    public TimeSpan WorkerSilentAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often pending webhook deliveries are looked for.</summary>
    public TimeSpan WebhookPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts per delivery before it is given up; the wait before attempt n+1 is 2^n seconds.</summary>
    public int WebhookMaxAttempts { get; set; } = 8;

    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
