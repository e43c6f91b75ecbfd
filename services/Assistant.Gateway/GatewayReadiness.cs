using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Assistant.Gateway;

/// <summary>The gateway is ready once it can judge requests: the scope table is loaded and the bootstrap key stored.</summary>
public sealed class GatewayReadiness(ScopeRules rules, BootstrapKey bootstrap) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult((rules.Loaded, bootstrap.Stored) switch
        {
            (true, true) => HealthCheckResult.Healthy(),
            (false, _) => HealthCheckResult.Unhealthy("The training API's scope table is not loaded yet."),
            _ => HealthCheckResult.Unhealthy("The bootstrap admin key is not stored yet."),
        });
}
