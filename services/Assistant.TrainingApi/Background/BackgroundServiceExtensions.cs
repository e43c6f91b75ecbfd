namespace Assistant.TrainingApi.Background;

internal static class BackgroundServiceExtensions
{
    /// <summary>The reconciler, the worker monitor and the webhook dispatcher; each runs on one replica at a time.</summary>
    public static IHostApplicationBuilder AddBackgroundServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<MonitoringOptions>().BindConfiguration("Monitoring")
            .Validate(o => o.ReconcileInterval > TimeSpan.Zero && o.WorkerCheckInterval > TimeSpan.Zero && o.WebhookPollInterval > TimeSpan.Zero,
                "Monitoring intervals must be positive")
            .Validate(o => o.WorkerSilentAfter > TimeSpan.Zero && o.WebhookMaxAttempts >= 1 && o.WebhookTimeout > TimeSpan.Zero,
                "Monitoring:WorkerSilentAfter and WebhookTimeout must be positive, WebhookMaxAttempts at least 1")
            .ValidateOnStart();
        builder.Services.AddHostedService<QueueReconciler>();
        builder.Services.AddHostedService<WorkerMonitor>();
        builder.Services.AddHostedService<WebhookDispatcher>();
        return builder;
    }
}
