using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Assistant.Platform.Storage;

public static class ArtifactStoreExtensions
{
    /// <summary>
    /// Registers the S3 client and <see cref="ArtifactStore"/> from <c>ConnectionStrings:s3</c>, and creates
    /// the bucket when the service starts.
    /// </summary>
    public static IHostApplicationBuilder AddArtifactStore(this IHostApplicationBuilder builder, string connectionName = ObjectStoreConnection.ConnectionName)
    {
        var connectionString = builder.Configuration.GetConnectionString(connectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{connectionName} is not set: the services need the S3 object store.");
        var connection = ObjectStoreConnection.Parse(connectionString);
        builder.Services.AddSingleton(connection);
        builder.Services.AddSingleton<IAmazonS3>(_ => CreateClient(connection));
        builder.Services.AddSingleton<ArtifactStore>();
        builder.Services.AddHostedService<BucketInitializer>();
        return builder;
    }

    public static IAmazonS3 CreateClient(ObjectStoreConnection connection) =>
        new AmazonS3Client(new BasicAWSCredentials(connection.AccessKey, connection.SecretKey), new AmazonS3Config
        {
            ServiceURL = connection.Endpoint.ToString(),
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            // MinIO and fauxqs do not all speak the newer default checksums; compute them only where S3 requires.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    private sealed class BucketInitializer(ArtifactStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.EnsureBucketAsync(cancellationToken);
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
