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
        if (configuration["Jobs:LeaseSeconds"] is not { Length: > 0 } text) return trainer;
        if (!int.TryParse(text, out var seconds) || seconds < 3)
            throw new InvalidOperationException($"Jobs:LeaseSeconds='{text}' must be a whole number of seconds, at least 3.");
        var lease = TimeSpan.FromSeconds(seconds);
        // Heartbeats (and so reconciliation rounds) must come several times per lease for a takeover to be quick.
        var heartbeat = TimeSpan.FromSeconds(Math.Max(1, Math.Min(5, seconds / 3)));
        return trainer
            .WithEnvironment("Trainer__LeaseDuration", lease.ToString("c"))
            .WithEnvironment("Trainer__HeartbeatInterval", heartbeat.ToString("c"))
            .WithEnvironment("Trainer__HeartbeatTtl", (heartbeat * 3).ToString("c"));
    }
}
