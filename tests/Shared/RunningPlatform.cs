using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// Compiled into the end-to-end tests and the benchmarks (linked), so both start the platform the same way.
namespace Assistant.Testing;

/// <summary>A whole platform started by the real AppHost on its own data folder.</summary>
public sealed class RunningPlatform : IAsyncDisposable
{
    public static readonly string[] Services = ["training-api", "trainer", "inference", "web", "gateway"];
    public const int JobLeaseSeconds = 6;
    /// <summary>Trainer replicas the AppHost starts (a job survives the death of one).</summary>
    public const int TrainerReplicas = 2;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(4);
    private static readonly string[] TerminalStates = [KnownResourceStates.Exited, KnownResourceStates.FailedToStart, KnownResourceStates.Finished];

    private RunningPlatform(DistributedApplication app) => App = app;

    public DistributedApplication App { get; }

    public string AdminApiKey => "web-branch-placeholder";

    public HttpClient CreateGatewayClient() => App.CreateHttpClient("gateway", "http");

    public async Task<string?> GetConnectionStringAsync(string name) => await App.GetConnectionStringAsync(name);

    /// <summary>
    /// Starts the AppHost with <paramref name="dataDirectory"/> for the local servers' data and fixed
    /// credentials (so a second start can open what the first wrote), and waits until every resource is healthy.
    /// </summary>
    public static async Task<RunningPlatform> StartAsync(string dataDirectory, PlatformSecrets secrets)
    {
        var infra = Environment.GetEnvironmentVariable("ASSISTANT_TEST_INFRA") ?? "auto";
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Assistant_AppHost>(
        [
            $"Infra={infra}",
            $"Infra:DataDir={dataDirectory}",
            $"Parameters:postgres-password={secrets.PostgresPassword}",
            $"Parameters:redis-password={secrets.RedisPassword}",
            $"Parameters:s3-access-key={secrets.S3AccessKey}",
            $"Parameters:s3-secret-key={secrets.S3SecretKey}",
            "DcpPublisher:RandomizePorts=true",
            // A job whose worker dies is taken over by another worker within seconds, not the default half minute.
            $"Jobs:LeaseSeconds={JobLeaseSeconds}",
        ], (options, _) => options.DisableDashboard = true);
        builder.Services.AddLogging(logging => logging
            .SetMinimumLevel(LogLevel.Warning)
            // Health checks fail by design while servers start; WaitForResourceHealthyAsync is the judge.
            .AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.None));

        var app = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(StartTimeout);
        await app.StartAsync(timeout.Token);
        foreach (var service in Services)
        {
            // Healthy, or stopped for good: a service that crashed at start fails the run now, not at the timeout.
            var healthy = app.ResourceNotifications.WaitForResourceHealthyAsync(service, timeout.Token);
            var ended = app.ResourceNotifications.WaitForResourceAsync(service, TerminalStates, timeout.Token);
            if (await Task.WhenAny(healthy, ended) == ended)
            {
                await app.DisposeAsync();
                throw new InvalidOperationException($"{service} stopped while starting ({await ended}); its log is in the test output.");
            }
            await healthy;
        }
        return new RunningPlatform(app);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

public sealed record PlatformSecrets(string PostgresPassword, string RedisPassword, string S3AccessKey, string S3SecretKey)
{
    public static PlatformSecrets CreateRandom() => new(Token(), Token(), Token().ToUpperInvariant()[..20], Token());

    private static string Token() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
}

/// <summary>A temporary folder that is removed, with everything the servers wrote, when disposed.</summary>
public sealed class ScratchDirectory : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"assistant-e2e-{Guid.NewGuid():N}"[..24]);

    public ScratchDirectory() => Directory.CreateDirectory(Path);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A server still closing a file: the OS temp cleaner gets it.
        }
    }
}
