namespace Assistant.AppHost.Infrastructure;

/// <summary>The three stores every service talks to, whatever runs them.</summary>
public sealed record PlatformInfrastructure(
    InfraMode Mode,
    IResourceBuilder<IResourceWithConnectionString> Database,
    IResourceBuilder<IResourceWithConnectionString> Redis,
    IResourceBuilder<IResourceWithConnectionString> ObjectStore);

public static class PlatformInfrastructureExtensions
{
    // Connection names the services use; identical in every mode.
    public const string DatabaseName = "assistantdb";
    public const string RedisName = "redis";
    public const string ObjectStoreName = "s3";

    public static PlatformInfrastructure AddPlatformInfrastructure(this IDistributedApplicationBuilder builder)
    {
        var mode = InfraModeResolver.Resolve(builder);
        return mode switch
        {
            InfraMode.External => new PlatformInfrastructure(mode,
                builder.AddConnectionString(DatabaseName),
                builder.AddConnectionString(RedisName),
                builder.AddConnectionString(ObjectStoreName)),
            InfraMode.Local when OperatingSystem.IsWindows() =>
                throw new PlatformNotSupportedException("Infra=local runs servers from Linux packages; use containers or external on Windows."),
            InfraMode.Local => AddLocal(builder, mode),
            _ => AddContainers(builder, mode),
        };
    }

    private static PlatformInfrastructure AddContainers(IDistributedApplicationBuilder builder, InfraMode mode)
    {
        var secrets = InfraSecrets.Add(builder);
        // Volume names are fixed: generated ones hash the AppHost's path, which differs per checkout.
        var database = builder.AddPostgres("postgres", password: secrets.PostgresPassword)
            .WithDataVolume("assistant-postgres-data")
            .AddDatabase(DatabaseName, databaseName: "assistant");
        var redis = builder.AddRedis(RedisName, password: secrets.RedisPassword)
            .WithDataVolume("assistant-redis-data")
            .WithPersistence();
        var objectStore = builder.AddMinioContainer(ObjectStoreName, secrets.S3AccessKey, secrets.S3SecretKey);
        return new PlatformInfrastructure(mode, database, redis, objectStore);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static PlatformInfrastructure AddLocal(IDistributedApplicationBuilder builder, InfraMode mode)
    {
        var secrets = InfraSecrets.Add(builder);
        var paths = LocalInfraPaths.From(builder);
        var database = builder.AddLocalPostgres("postgres", paths, secrets.PostgresPassword)
            .AddDatabase(DatabaseName, databaseName: "assistant");
        var redis = builder.AddLocalRedis(RedisName, paths, secrets.RedisPassword);
        var objectStore = builder.AddLocalObjectStore(ObjectStoreName, paths, secrets.S3AccessKey, secrets.S3SecretKey);
        return new PlatformInfrastructure(mode, database, redis, objectStore);
    }
}

/// <summary>
/// Credentials of the stores, as Aspire parameters: set them with <c>Parameters__name</c> (or user
/// secrets); when unset they are generated once and kept in the AppHost's user secrets.
/// </summary>
internal sealed record InfraSecrets(
    IResourceBuilder<ParameterResource> PostgresPassword,
    IResourceBuilder<ParameterResource> RedisPassword,
    IResourceBuilder<ParameterResource> S3AccessKey,
    IResourceBuilder<ParameterResource> S3SecretKey)
{
    public static InfraSecrets Add(IDistributedApplicationBuilder builder)
    {
        var password = new GenerateParameterDefault { MinLength = 24, Special = false };
        var accessKey = new GenerateParameterDefault { MinLength = 20, Special = false, Lower = false };
        return new InfraSecrets(
            builder.AddParameter("postgres-password", password, secret: true, persist: true),
            builder.AddParameter("redis-password", password, secret: true, persist: true),
            builder.AddParameter("s3-access-key", accessKey, secret: false, persist: true),
            builder.AddParameter("s3-secret-key", password, secret: true, persist: true));
    }
}
