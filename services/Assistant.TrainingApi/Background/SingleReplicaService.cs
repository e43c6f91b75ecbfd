using Assistant.Platform.Persistence;
using Assistant.TrainingApi.Database;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Background;

/// <summary>
/// A duty done every <see cref="Interval"/> by exactly one API replica at a time: each round takes a Postgres
/// advisory lock (<see cref="LockKey"/>) without waiting, and a replica that does not get it skips the round.
/// A failed round is logged and the next one tries again; nothing here stops the host.
/// </summary>
internal abstract class SingleReplicaService(IServiceScopeFactory scopes, DatabaseMigrator migrator, ILogger logger) : BackgroundService
{
    protected abstract TimeSpan Interval { get; }

    /// <summary>The advisory lock id, unique per duty across the platform.</summary>
    protected abstract long LockKey { get; }

    /// <summary>One round, in a fresh scope whose <see cref="PlatformDbContext"/> holds the lock.</summary>
    protected abstract Task RunOnceAsync(IServiceProvider services, CancellationToken ct);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await migrator.Applied.WaitAsync(stoppingToken); // the tables must exist
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return; // the migrator reported it and the service is unhealthy
        }

        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await RunExclusiveAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(ex, "{Duty} failed this round; retrying in {Interval}", GetType().Name, Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task RunExclusiveAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        // A session lock lives on one connection: keep the context's connection open for the whole round.
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            if (!await db.Database.SqlQuery<bool>($"SELECT pg_try_advisory_lock({LockKey}) AS \"Value\"").SingleAsync(ct))
            {
                return; // another replica has this round
            }
            try
            {
                await RunOnceAsync(scope.ServiceProvider, ct);
            }
            finally
            {
                await db.Database.ExecuteSqlAsync($"SELECT pg_advisory_unlock({LockKey})", CancellationToken.None);
            }
        }
        finally
        {
            await db.Database.CloseConnectionAsync();
        }
    }
}
