using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace Assistant.AppHost.Infrastructure;

/// <summary>A redis-server from the OS packages, with an append-only file in the platform's data folder.</summary>
public sealed class LocalRedisResource(string name, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, "redis-server", workingDirectory), IResourceWithConnectionString
{
    internal const string EndpointName = "tcp";

    public ParameterResource Password { get; } = password;

    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)},password={Password}");
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class LocalRedisExtensions
{
    internal static IResourceBuilder<LocalRedisResource> AddLocalRedis(
        this IDistributedApplicationBuilder builder, string name, LocalInfraPaths paths, IResourceBuilder<ParameterResource> password)
    {
        var dataDirectory = paths.For("redis");
        var configFile = Path.Combine(dataDirectory, "redis.conf");
        var redis = new LocalRedisResource(name, dataDirectory, password.Resource);

        // The password goes into a private config file rather than onto the command line, where `ps` shows it.
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(redis, async (_, ct) =>
        {
            Directory.CreateDirectory(dataDirectory);
            var secret = await password.Resource.GetValueAsync(ct);
            await File.WriteAllTextAsync(configFile, $"""
                bind 127.0.0.1
                protected-mode yes
                dir {dataDirectory}
                appendonly yes
                appendfsync everysec
                save 60 1
                requirepass {secret}
                """, ct);
            File.SetUnixFileMode(configFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        });

        var healthCheck = $"{name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheck, _ => new RedisReadyCheck(redis), HealthStatus.Unhealthy, tags: null));

        return builder.AddResource(redis)
            .WithEndpoint(name: LocalRedisResource.EndpointName, scheme: "tcp", isProxied: true)
            .WithArgs(context =>
            {
                context.Args.Add(configFile);
                context.Args.Add("--port");
                context.Args.Add(redis.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
            })
            .WithHealthCheck(healthCheck);
    }
}

/// <summary>Ready when the server answers PING (after loading its append-only file).</summary>
internal sealed class RedisReadyCheck(IResourceWithConnectionString resource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var options = ConfigurationOptions.Parse(await resource.ConnectionStringExpression.GetValueAsync(cancellationToken) ?? "");
            options.AbortOnConnectFail = true;
            options.ConnectTimeout = 2000;
            await using var connection = await ConnectionMultiplexer.ConnectAsync(options);
            await connection.GetDatabase().PingAsync();
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy(ex.Message, ex);
        }
    }
}
