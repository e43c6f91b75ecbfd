using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Assistant.AppHost.Infrastructure;

/// <summary>A PostgreSQL server run from the OS packages, with its cluster in the platform's data folder.</summary>
public sealed class LocalPostgresServerResource(string name, string command, string workingDirectory, ParameterResource password)
    : ExecutableResource(name, command, workingDirectory), IResourceWithConnectionString
{
    internal const string EndpointName = "tcp";

    public ParameterResource Password { get; } = password;

    public EndpointReference PrimaryEndpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create(
        $"Host={PrimaryEndpoint.Property(EndpointProperty.Host)};Port={PrimaryEndpoint.Property(EndpointProperty.Port)};Username=postgres;Password={Password}");
}

/// <summary>A database inside a <see cref="LocalPostgresServerResource"/>.</summary>
public sealed class LocalPostgresDatabaseResource(string name, string databaseName, LocalPostgresServerResource parent)
    : Resource(name), IResourceWithParent<LocalPostgresServerResource>, IResourceWithConnectionString
{
    public LocalPostgresServerResource Parent { get; } = parent;

    public string DatabaseName { get; } = databaseName;

    public ReferenceExpression ConnectionStringExpression => ReferenceExpression.Create($"{Parent};Database={DatabaseName}");
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class LocalPostgresExtensions
{
    internal static IResourceBuilder<LocalPostgresServerResource> AddLocalPostgres(
        this IDistributedApplicationBuilder builder, string name, LocalInfraPaths paths, IResourceBuilder<ParameterResource> password)
    {
        var binaries = PostgresBinaries.Find(builder.Configuration["Infra:PostgresBin"]);
        var cluster = new PostgresCluster(paths.For("postgres"), binaries);
        // initdb and postgres refuse to run as root: run them as the `postgres` OS user then.
        string[] launcher = PostgresCluster.RunningAsRoot
            ? ["--reuid=postgres", "--regid=postgres", "--init-groups", binaries.Server]
            : [];
        var command = PostgresCluster.RunningAsRoot ? "setpriv" : binaries.Server;

        var server = new LocalPostgresServerResource(name, command, paths.DataDirectory, password.Resource);
        builder.Eventing.Subscribe<BeforeResourceStartedEvent>(server, async (@event, ct) =>
        {
            var logger = @event.Services.GetRequiredService<ResourceLoggerService>().GetLogger(server);
            await cluster.InitializeAsync(await password.Resource.GetValueAsync(ct) ?? "", logger, ct);
        });

        var healthCheck = $"{name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheck, _ => new PostgresReadyCheck(server), HealthStatus.Unhealthy, tags: null));

        return builder.AddResource(server)
            .WithEndpoint(name: LocalPostgresServerResource.EndpointName, scheme: "tcp", isProxied: true)
            .WithArgs(context =>
            {
                foreach (var arg in launcher)
                {
                    context.Args.Add(arg);
                }
                context.Args.Add("-D");
                context.Args.Add(cluster.DataDirectory);
                context.Args.Add("-p");
                context.Args.Add(server.PrimaryEndpoint.Property(EndpointProperty.TargetPort));
                // Loopback TCP only; no unix socket, so no socket folder to own or to keep short.
                context.Args.Add("-c");
                context.Args.Add("listen_addresses=127.0.0.1");
                context.Args.Add("-c");
                context.Args.Add("unix_socket_directories=");
            })
            .WithHealthCheck(healthCheck);
    }

    /// <summary>
    /// Adds a database that is created on the server once it is ready; DCP knows nothing of it,
    /// so its state is published here.
    /// </summary>
    internal static IResourceBuilder<LocalPostgresDatabaseResource> AddDatabase(
        this IResourceBuilder<LocalPostgresServerResource> server, string name, string databaseName)
    {
        var builder = server.ApplicationBuilder;
        var database = new LocalPostgresDatabaseResource(name, databaseName, server.Resource);

        builder.Eventing.Subscribe<ResourceReadyEvent>(server.Resource, async (@event, ct) =>
        {
            var notifications = @event.Services.GetRequiredService<ResourceNotificationService>();
            var logger = @event.Services.GetRequiredService<ResourceLoggerService>().GetLogger(database);
            try
            {
                await CreateDatabaseIfMissingAsync(server.Resource, databaseName, ct);
                await notifications.PublishUpdateAsync(database, s => s with
                {
                    State = KnownResourceStates.Running,
                    StartTimeStamp = DateTime.UtcNow,
                });
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException)
            {
                logger.LogError(ex, "Could not create database {Database}", databaseName);
                await notifications.PublishUpdateAsync(database, s => s with { State = KnownResourceStates.FailedToStart });
            }
        });

        var healthCheck = $"{name}-ready";
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            healthCheck, _ => new PostgresReadyCheck(database), HealthStatus.Unhealthy, tags: null));

        return builder.AddResource(database)
            .WithInitialState(new CustomResourceSnapshot
            {
                ResourceType = "PostgresDatabase",
                State = KnownResourceStates.Waiting,
                Properties = [],
            })
            .WithHealthCheck(healthCheck);
    }

    private static async Task CreateDatabaseIfMissingAsync(LocalPostgresServerResource server, string databaseName, CancellationToken ct)
    {
        var connectionString = await server.ConnectionStringExpression.GetValueAsync(ct);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
        exists.Parameters.AddWithValue("name", databaseName);
        if (await exists.ExecuteScalarAsync(ct) is null)
        {
            // Identifiers cannot be parameters; the name is ours, quoted all the same.
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{databaseName.Replace("\"", "\"\"")}\"", connection);
            await create.ExecuteNonQueryAsync(ct);
        }
    }
}

/// <summary>The server binaries of the newest PostgreSQL installed from the OS packages.</summary>
internal sealed record PostgresBinaries(string Directory)
{
    public string Server => Path.Combine(Directory, "postgres");
    public string InitDb => Path.Combine(Directory, "initdb");

    public static PostgresBinaries Find(string? configured)
    {
        if (configured is not null)
        {
            return new PostgresBinaries(configured);
        }
        var installed = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "postgres")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return installed is null
            ? throw new InvalidOperationException($"PostgreSQL server binaries were not found under /usr/lib/postgresql: {LocalInfraPaths.MissingDependencyHint}.")
            : new PostgresBinaries(installed);
    }
}

/// <summary>The cluster folder of a local server, created by initdb on first start.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
internal sealed class PostgresCluster
{
    public static bool RunningAsRoot { get; } = Environment.UserName == "root" || Environment.IsPrivilegedProcess;

    private readonly PostgresBinaries _binaries;

    public PostgresCluster(string requestedDirectory, PostgresBinaries binaries)
    {
        _binaries = binaries;
        DataDirectory = RunningAsRoot && !OthersCanTraverse(Path.GetDirectoryName(requestedDirectory)!)
            // The postgres user cannot reach a folder under, say, /root: keep that cluster where it can,
            // at a path derived from the requested one so the next start finds it again.
            ? Path.Combine("/var/lib/assistant/postgres", Convert.ToHexString(
                System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(requestedDirectory)))[..16].ToLowerInvariant())
            : requestedDirectory;
    }

    public string DataDirectory { get; }

    public async Task InitializeAsync(string password, ILogger logger, CancellationToken ct)
    {
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            return;
        }
        Directory.CreateDirectory(DataDirectory);
        var passwordFile = Path.Combine(Path.GetTempPath(), $"assistant-pg-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(passwordFile, password, ct);
        try
        {
            File.SetUnixFileMode(DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            if (RunningAsRoot)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", DataDirectory, passwordFile], ct);
            }
            string[] initdb = [_binaries.InitDb, "-D", DataDirectory, "-U", "postgres", "-E", "UTF8", "--locale=C",
                "--auth=scram-sha-256", $"--pwfile={passwordFile}"];
            logger.LogInformation("Creating PostgreSQL cluster in {DataDirectory}", DataDirectory);
            await (RunningAsRoot
                ? RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", .. initdb], ct)
                : RunAsync(initdb[0], initdb[1..], ct));
        }
        finally
        {
            File.Delete(passwordFile);
        }
    }

    private static bool OthersCanTraverse(string directory)
    {
        for (var dir = new DirectoryInfo(directory); dir is not null; dir = dir.Parent)
        {
            if (dir.Exists && (dir.UnixFileMode & UnixFileMode.OtherExecute) == 0)
            {
                return false;
            }
        }
        return true;
    }

    private static async Task RunAsync(string fileName, string[] arguments, CancellationToken ct)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} exited with {process.ExitCode}: {await error}{await output}");
        }
    }
}

/// <summary>Ready when a connection opens and answers a query.</summary>
internal sealed class PostgresReadyCheck(IResourceWithConnectionString resource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var connectionString = await resource.ConnectionStringExpression.GetValueAsync(cancellationToken);
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(cancellationToken);
            await using var command = new NpgsqlCommand("SELECT 1", connection);
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return HealthCheckResult.Unhealthy(ex.Message, ex);
        }
    }
}
