using System.Diagnostics;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Assistant.TrainingApi.Database;

/// <summary>
/// Applies EF Core migrations once at start; the service reports healthy only afterwards, so everything
/// that waits for the API (the trainer, the gateway) sees the current schema.
/// </summary>
internal sealed class DatabaseMigrator(IServiceProvider services, ILogger<DatabaseMigrator> logger) : BackgroundService
{
    public static readonly ActivitySource Activity = new("Assistant.Migrations");

    private readonly TaskCompletionSource _applied = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Applied => _applied.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var span = Activity.StartActivity("migrate database", ActivityKind.Client);
        try
        {
            await using var scope = services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            // Inside the execution strategy so a transient failure retries the whole migration step.
            await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                var pending = (await db.Database.GetPendingMigrationsAsync(stoppingToken)).ToList();
                span?.SetTag("migrations.pending", pending.Count);
                await db.Database.MigrateAsync(stoppingToken);
                logger.LogInformation("Database schema is current ({Count} migrations applied now)", pending.Count);
            });
            _applied.TrySetResult();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            span?.SetStatus(ActivityStatusCode.Error, ex.Message);
            logger.LogError(ex, "Applying database migrations failed");
            _applied.TrySetException(ex);
            throw;
        }
    }
}

/// <summary>Unhealthy until migrations have been applied.</summary>
internal sealed class MigrationsHealthCheck(DatabaseMigrator migrator) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(migrator.Applied switch
        {
            { IsCompletedSuccessfully: true } => HealthCheckResult.Healthy("migrations applied"),
            { IsFaulted: true } t => HealthCheckResult.Unhealthy("migrations failed", t.Exception),
            _ => HealthCheckResult.Unhealthy("applying migrations"),
        });
}

internal static class DatabaseMigrationExtensions
{
    public static IHostApplicationBuilder AddDatabaseMigrations(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<DatabaseMigrator>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DatabaseMigrator>());
        builder.Services.AddHealthChecks().AddCheck<MigrationsHealthCheck>("migrations");
        return builder;
    }
}
