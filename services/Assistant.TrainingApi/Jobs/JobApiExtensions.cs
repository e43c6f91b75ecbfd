using Assistant.TrainingApi.Apis;

namespace Assistant.TrainingApi.Jobs;

public static class JobApiExtensions
{
    /// <summary>What the jobs, sweeps and registry endpoints need beyond the platform's job protocol.</summary>
    public static IHostApplicationBuilder AddJobApi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<JobPlanner>();
        builder.Services.AddScoped<JobSubmitter>();
        builder.Services.AddScoped<Registry.ModelImporter>();
        builder.Services.AddScoped<Registry.DeploymentGate>();
        builder.Services.AddScoped<Registry.Deployments>();
        builder.Services.AddSingleton<Registry.InferenceReplicas>();
        builder.Services.AddOptions<JobStreamOptions>().BindConfiguration("JobStream")
            .Validate(o => o.KeepAlive > TimeSpan.Zero && o.StatusPoll > TimeSpan.Zero, "JobStream:KeepAlive and JobStream:StatusPoll must be positive")
            .ValidateOnStart();
        return builder;
    }
}
