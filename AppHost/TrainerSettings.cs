using Microsoft.Extensions.Configuration;

namespace Assistant.AppHost;

internal static class TrainerSettings
{
    /// <summary>
    /// <c>Jobs:LeaseSeconds</c> (AppHost configuration) becomes the trainers' lease: how long a job outlives
    /// a worker that stopped renewing it. Tests shorten it so a takeover happens in seconds; unset, the
    /// trainers keep their default and the deployment manifest says nothing about it.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithJobLease(this IResourceBuilder<ProjectResource> trainer, IConfiguration configuration)
    {
        if (LeaseOf(configuration) is not { } settings) return trainer;
        var (lease, heartbeat) = settings;
        return trainer
            .WithEnvironment("Trainer__LeaseDuration", lease.ToString("c"))
            .WithEnvironment("Trainer__HeartbeatInterval", heartbeat.ToString("c"))
            .WithEnvironment("Trainer__HeartbeatTtl", (heartbeat * 3).ToString("c"));
    }

    /// <summary>
    /// The training API's reconciler puts a dead worker's job back on the queue; with a shortened lease it
    /// must look as often as the workers heartbeat, or the takeover waits for its default round.
    /// </summary>
    public static IResourceBuilder<ProjectResource> WithQueueReconciliation(this IResourceBuilder<ProjectResource> trainingApi, IConfiguration configuration) =>
        LeaseOf(configuration) is { } settings
            ? trainingApi.WithEnvironment("Monitoring__ReconcileInterval", settings.Heartbeat.ToString("c"))
            : trainingApi;

    private static (TimeSpan Lease, TimeSpan Heartbeat)? LeaseOf(IConfiguration configuration)
    {
        if (configuration["Jobs:LeaseSeconds"] is not { Length: > 0 } text) return null;
        if (!int.TryParse(text, out var seconds) || seconds < 3)
            throw new InvalidOperationException($"Jobs:LeaseSeconds='{text}' must be a whole number of seconds, at least 3.");
        // Heartbeats (and so reconciliation rounds) must come several times per lease for a takeover to be quick.
        return (TimeSpan.FromSeconds(seconds), TimeSpan.FromSeconds(Math.Max(1, Math.Min(5, seconds / 3))));
    }
}
