using System.Text.Json;
using Assistant.Inference.Serving;
using Assistant.Modeling.Training;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Platform.Workers;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Assistant.Inference;

public static class InferenceServiceExtensions
{
    /// <summary>
    /// The model host and its engines, telemetry (with Prometheus), the /health readiness check, and where models come from:
    /// one local folder (<c>Inference:ModelFolder</c>, nothing else needed) or the registry's alias (Postgres, S3, and Redis
    /// when configured, for deployment notices and the replica state).
    /// </summary>
    public static IHostApplicationBuilder AddInference(this IHostApplicationBuilder builder)
    {
        // Before libtorch loads: busy-waiting OpenMP threads stall when other processes share the cores (PLATFORM.md).
        MachineInfo.PreferPassiveOpenMpWaits();
        var services = builder.Services;
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<InferenceOptions>, InferenceOptionsValidator>();
        services.PostConfigure<InferenceOptions>(options =>
        {
            options.ReplicaId ??= ReplicaIdentity.Default();
            // One folder per replica: replicas sharing a machine must not prune each other's downloads.
            options.CacheDir ??= Path.Combine(Path.GetTempPath(), "assistant-inference", ReplicaIdentity.AsFileName(options.ReplicaId));
        });
        services.AddSingleton<InferenceTelemetry>();
        services.AddSingleton<ModelHost>();
        services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics.AddMeter(InferenceTelemetry.Name).AddPrometheusExporter())
            .WithTracing(tracing => tracing.AddSource(InferenceTelemetry.Name));
        services.AddHealthChecks().AddCheck<ModelsHealthCheck>("models");
        // Only /health takes these options from DI (/alive passes its own): its body lists the models and their states.
        services.Configure<HealthCheckOptions>(options => options.ResponseWriter = ModelsHealthCheck.WriteResponse);
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        services.AddProblemDetails();

        if (!string.IsNullOrWhiteSpace(builder.Configuration[$"{InferenceOptions.Section}:{nameof(InferenceOptions.ModelFolder)}"]))
        {
            services.AddHostedService<StaticModelSource>();
            return builder;
        }

        foreach (var name in new[] { PlatformDatabaseExtensions.ConnectionName, ObjectStoreConnection.ConnectionName })
        {
            if (string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(name)))
                throw new InvalidOperationException(
                    $"ConnectionStrings:{name} is not set. Inference follows the registry's alias (it needs Postgres and S3), or serves one folder: set Inference:ModelFolder.");
        }
        // Readiness is about models: a replica with its models loaded keeps serving while Postgres or Redis is briefly away.
        builder.AddNpgsqlDbContext<PlatformDbContext>(PlatformDatabaseExtensions.ConnectionName,
            settings => settings.DisableHealthChecks = true,
            options => options.UseSnakeCaseNamingConvention());
        builder.AddArtifactStore();
        services.AddScoped<ModelRegistry>();
        services.AddSingleton<IModelCatalog, RegistryCatalog>();
        if (!string.IsNullOrWhiteSpace(builder.Configuration.GetConnectionString(RedisKeys.ConnectionName)))
        {
            builder.AddRedisClient(RedisKeys.ConnectionName, settings => settings.DisableHealthChecks = true);
            services.AddHostedService<ReplicaState>();
        }
        services.AddSingleton<AliasFollower>();
        services.AddHostedService(provider => provider.GetRequiredService<AliasFollower>());
        services.AddSingleton<OnDemandModels>();
        services.AddHostedService(provider => provider.GetRequiredService<OnDemandModels>());
        return builder;
    }
}

/// <summary>Names this replica in the replica-state hash and its cache folder.</summary>
internal static class ReplicaIdentity
{
    /// <summary>Aspire's per-replica <c>service.instance.id</c> when it gives one, else machine name and process id.</summary>
    public static string Default()
    {
        var attributes = Environment.GetEnvironmentVariable("OTEL_RESOURCE_ATTRIBUTES") ?? "";
        foreach (var pair in attributes.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var (key, value) = (pair.Split('=', 2)[0], pair.Split('=', 2) is [_, var v] ? v : "");
            if (key == "service.instance.id" && value.Length > 0) return value;
        }
        return $"{Environment.MachineName}-{Environment.ProcessId}";
    }

    public static string AsFileName(string replicaId) =>
        string.Concat(replicaId.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
