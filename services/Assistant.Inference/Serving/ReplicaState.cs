using System.Text.Json;
using Assistant.Platform.Workers;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Inference.Serving;

/// <summary>
/// What this replica serves, written at once when a model's state changes and every few seconds besides, to the Redis hash <see cref="RedisKeys.InferenceReplicas"/> under its
/// replica id (<c>GET /api/deployments</c> reads it; a field older than <see cref="RedisKeys.InferenceReplicaStaleAfter"/> is a
/// replica that is gone). The field is removed on a graceful shutdown.
/// </summary>
internal sealed class ReplicaState(
    ModelHost host, IConnectionMultiplexer redis, IOptions<InferenceOptions> options, ILogger<ReplicaState> logger, OnDemandModels? onDemand = null)
    : BackgroundService
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    readonly InferenceOptions settings = options.Value;
    readonly DateTimeOffset startedAt = DateTimeOffset.UtcNow;
    readonly SemaphoreSlim changed = new(0, 1);

    /// <summary>The JSON written for this replica.</summary>
    internal string Snapshot() => JsonSerializer.Serialize(new
    {
        Replica = settings.ReplicaId,
        StartedAt = startedAt,
        UpdatedAt = DateTimeOffset.UtcNow,
        Alias = host.Alias,
        Models = host.Status().Select(m => new { m.Name, m.Version, m.State, m.LoadedAt, m.Error, m.ServingVersion }),
        // Apart from models: deployments match replicas to aliases by model name, and an on-demand version follows no alias.
        OnDemand = (onDemand?.Status() ?? []).Select(m => new { m.Name, m.Version, m.State, m.LoadedAt }),
        Running = Engines().Sum(e => e.Running),
        Waiting = Engines().Sum(e => e.Waiting),
    }, Json);

    IEnumerable<BatchEngine> Engines() => host.Served.Concat(onDemand?.Loaded ?? []).Select(m => m.Engine);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A deploy waits on this state: a version that went live is reported now, not at the next tick.
        host.StateChanged += Signal;
        if (onDemand is not null) onDemand.StateChanged += Signal;
        try
        {
            while (true)
            {
                try
                {
                    await redis.GetDatabase().HashSetAsync(RedisKeys.InferenceReplicas, settings.ReplicaId, Snapshot());
                }
                catch (Exception e) when (e is RedisException or TimeoutException)
                {
                    logger.LogWarning(e, "Could not write the replica state of {Replica}", settings.ReplicaId);
                }
                await changed.WaitAsync(TimeSpan.FromSeconds(settings.ReplicaStateSeconds), stoppingToken); // a change or the tick
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            host.StateChanged -= Signal;
            if (onDemand is not null) onDemand.StateChanged -= Signal;
        }
    }

    void Signal()
    {
        try
        {
            changed.Release();
        }
        catch (SemaphoreFullException)
        {
            // A write is already due.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await redis.GetDatabase().HashDeleteAsync(RedisKeys.InferenceReplicas, settings.ReplicaId);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning(e, "Could not remove the replica state of {Replica}", settings.ReplicaId);
        }
    }
}
