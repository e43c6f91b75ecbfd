using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Assistant.Inference.Serving;

/// <summary>
/// Readiness (<c>/health</c>): healthy when every selected model has a version loaded, or when nothing is deployed yet;
/// unhealthy while a first load is in progress or when nothing loaded can be served. A model whose version failed to
/// load (the previous one serving, or none) is degraded, which still takes traffic for the models that serve.
/// </summary>
internal sealed class ModelsHealthCheck(ModelHost host) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var models = host.Status();
        if (!host.IsResolved) return Task.FromResult(HealthCheckResult.Unhealthy("Finding the models to serve."));
        if (!host.IsReady)
        {
            var waiting = models.Where(m => m.ServingVersion is null).Select(m => $"{m.Name} ({m.State})");
            return Task.FromResult(HealthCheckResult.Unhealthy($"Nothing to serve yet: {string.Join(", ", waiting)}."));
        }
        if (models.Any(m => m.State == ModelHost.Failed))
            return Task.FromResult(HealthCheckResult.Degraded(
                $"Failed to load: {string.Join(", ", models.Where(m => m.State == ModelHost.Failed).Select(m => $"{m.Name}@{m.Version}"))}; the others serve."));
        return Task.FromResult(HealthCheckResult.Healthy(models.Count == 0 ? "Nothing is deployed yet." : "Every model is loaded."));
    }

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The /health body: overall status, and every model's version and state.</summary>
    public static Task WriteResponse(HttpContext context, HealthReport report)
    {
        var host = context.RequestServices.GetRequiredService<ModelHost>();
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            Status = report.Status.ToString(),
            Description = report.Entries.TryGetValue("models", out var entry) ? entry.Description : null,
            Alias = host.Alias,
            Models = host.Status().Select(m => new { m.Name, m.Version, m.State, m.LoadedAt, m.Error, m.ServingVersion }),
            OnDemand = (context.RequestServices.GetService<OnDemandModels>()?.Status() ?? []).Select(m => new { m.Name, m.Version, m.State, m.LoadedAt }),
        }, Json));
    }
}
