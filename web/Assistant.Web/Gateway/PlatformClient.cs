using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.Web.Gateway;

/// <param name="NeedsKey">The gateway asked for an API key the page does not have yet, so the state is unknown (not down).</param>
public sealed record ServiceStatus(string Name, string Role, bool Up, string Detail, double? LatencyMs, bool NeedsKey = false);

public sealed record PlatformStatus(string? PlatformVersion, IReadOnlyList<ServiceStatus> Services, DateTimeOffset CheckedAt);

/// <summary>Reads the platform's state through the gateway, the same routes the CLI and scripts use.</summary>
public sealed class PlatformClient(HttpClient http, ILogger<PlatformClient> logger)
{
    public async Task<PlatformStatus> GetStatusAsync(CancellationToken ct)
    {
        var services = new List<ServiceStatus>();
        var health = GetJsonAsync("api/health", ct);
        var models = GetJsonAsync("v1/models", ct);

        var (healthDoc, healthError, healthMs) = await health;
        string? version = null;
        services.Add(new ServiceStatus("Gateway", "YARP front door", healthDoc is not null || healthError is not "unreachable",
            healthError == "unreachable" ? "unreachable" : "routing", null));
        if (healthDoc is { } doc)
        {
            var root = doc.RootElement;
            version = root.TryGetProperty("version", out var v) ? v.GetString() : null;
            services.Add(new ServiceStatus("Training API", "REST API, migrations", true, "answering /api/health", healthMs));
            foreach (var dependency in root.GetProperty("dependencies").EnumerateObject())
            {
                var ok = dependency.Value.GetProperty("status").GetString() == "ok";
                var error = dependency.Value.TryGetProperty("error", out var e) ? e.GetString() : null;
                services.Add(new ServiceStatus(DependencyName(dependency.Name), DependencyRole(dependency.Name), ok,
                    ok ? "reachable" : error ?? "unreachable", dependency.Value.GetProperty("latency_ms").GetDouble()));
            }
            var workers = root.GetProperty("workers").EnumerateArray().ToList();
            var alive = workers.Count(w => w.GetProperty("alive").GetBoolean());
            services.Add(new ServiceStatus("Trainer", "job workers", alive > 0,
                alive == 1 ? "1 worker alive" : $"{alive} workers alive", null));
        }
        else
        {
            services.Add(new ServiceStatus("Training API", "REST API, migrations", false, healthError ?? "unreachable", healthMs));
        }

        var (modelsDoc, modelsError, modelsMs) = await models;
        services.Add(modelsDoc is { } m
            ? new ServiceStatus("Inference", "OpenAI-compatible serving", true,
                $"{m.RootElement.GetProperty("data").GetArrayLength()} model(s) deployed", modelsMs)
            // /v1 needs the infer scope, which the signed-in key may lack: shown as locked, not as down.
            : modelsError is "HTTP 401" or "HTTP 403"
                ? new ServiceStatus("Inference", "OpenAI-compatible serving", false, "needs a key with the infer scope", modelsMs, NeedsKey: true)
                : new ServiceStatus("Inference", "OpenAI-compatible serving", false, modelsError ?? "unreachable", modelsMs));

        healthDoc?.Dispose();
        modelsDoc?.Dispose();
        return new PlatformStatus(version, services, DateTimeOffset.UtcNow);
    }

    private async Task<(JsonDocument? Document, string? Error, double Ms)> GetJsonAsync(string path, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.GetAsync(path, ct);
            var ms = Math.Round(clock.Elapsed.TotalMilliseconds, 1);
            // /api/health answers 503 with a full report when a dependency is down: still worth reading.
            if (response.Content.Headers.ContentType?.MediaType == "application/json")
            {
                return (await response.Content.ReadFromJsonAsync<JsonDocument>(ct), null, ms);
            }
            return (null, $"HTTP {(int)response.StatusCode}", ms);
        }
        catch (Exception ex) when (ex is HttpRequestException or Polly.ExecutionRejectedException)
        {
            logger.LogWarning(ex, "Gateway request {Path} failed", path);
            return (null, "unreachable", Math.Round(clock.Elapsed.TotalMilliseconds, 1));
        }
    }

    private static string DependencyName(string key) => key switch
    {
        "postgres" => "PostgreSQL",
        "redis" => "Redis",
        "s3" => "S3 object store",
        _ => key,
    };

    private static string DependencyRole(string key) => key switch
    {
        "postgres" => "system of record",
        "redis" => "job queue, live events",
        "s3" => "datasets, checkpoints, models",
        _ => "",
    };
}

public static class ServiceStatusDisplay
{
    /// <summary>The state pill: up, down, or locked when the gateway wants a key the page does not have.</summary>
    public static string Pill(this ServiceStatus service) => service.NeedsKey ? "locked" : service.Up ? "up" : "down";
}
