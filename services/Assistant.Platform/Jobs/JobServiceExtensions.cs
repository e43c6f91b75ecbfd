using Assistant.Platform.Alerts;
using Assistant.Platform.Models;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Assistant.Platform.Jobs;

public static class JobServiceExtensions
{
    /// <summary>The job protocol, the model registry and the alert book (needs the database, Redis and the artifact store).</summary>
    public static IHostApplicationBuilder AddJobs(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<JobQueue>();
        builder.Services.AddScoped<ModelRegistry>();
        builder.Services.AddScoped<AlertBook>();
        return builder;
    }
}
