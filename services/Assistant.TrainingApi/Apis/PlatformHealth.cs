using System.Diagnostics;
using System.Text.Json.Serialization;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Apis;

[JsonConverter(typeof(JsonStringEnumConverter<DependencyState>))]
public enum DependencyState
{
    [JsonStringEnumMemberName("ok")] Ok,
    [JsonStringEnumMemberName("unreachable")] Unreachable,
}

public sealed record DependencyHealth(DependencyState Status, double LatencyMs, string? Error);

public sealed record WorkerHealth(string Id, string Hostname, string State, bool Alive, DateTimeOffset LastHeartbeatAt);

public sealed record PlatformHealthReport(
    DependencyState Status,
    string Version,
    IReadOnlyDictionary<string, DependencyHealth> Dependencies,
    IReadOnlyList<WorkerHealth> Workers,
    IReadOnlyList<Registry.InferenceReplica> Inference);

/// <summary>Asks each dependency a real question (a query, a PING, a bucket listing), all at once.</summary>
public sealed class PlatformHealth(IServiceScopeFactory scopes, IConnectionMultiplexer redis, ArtifactStore artifacts, Registry.InferenceReplicas inference)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public async Task<PlatformHealthReport> CheckAsync(CancellationToken ct)
    {
        var postgres = ProbeAsync(async token =>
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await db.Database.ExecuteSqlRawAsync("SELECT 1", token);
        }, ct);
        var redisProbe = ProbeAsync(async _ => await redis.GetDatabase().PingAsync(), ct);
        var s3 = ProbeAsync(artifacts.CheckReachableAsync, ct);
        var workers = ListWorkersAsync(ct);
        var replicas = ListReplicasAsync();

        var dependencies = new Dictionary<string, DependencyHealth>
        {
            ["postgres"] = await postgres,
            ["redis"] = await redisProbe,
            ["s3"] = await s3,
        };
        var status = dependencies.Values.All(d => d.Status == DependencyState.Ok) ? DependencyState.Ok : DependencyState.Unreachable;
        return new PlatformHealthReport(status, ServiceDefaultsExtensions.PlatformVersion, dependencies, await workers, await replicas);
    }

    private async Task<IReadOnlyList<Registry.InferenceReplica>> ListReplicasAsync()
    {
        try
        {
            return await inference.ListAsync();
        }
        catch (RedisException)
        {
            return []; // the redis entry already says it is unreachable
        }
    }

    private async Task<IReadOnlyList<WorkerHealth>> ListWorkersAsync(CancellationToken ct)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            var since = DateTimeOffset.UtcNow.AddDays(-1);
            var rows = await db.Workers.AsNoTracking()
                .Where(w => w.State != WorkerState.Stopped && w.LastHeartbeatAt > since)
                .OrderBy(w => w.Id).ToListAsync(ct);
            var database = redis.GetDatabase();
            var alive = await Task.WhenAll(rows.Select(w => database.KeyExistsAsync(RedisKeys.WorkerHeartbeat(w.Id))));
            return rows.Select((w, i) => new WorkerHealth(w.Id, w.Hostname, w.State.ToString().ToLowerInvariant(), alive[i], w.LastHeartbeatAt)).ToList();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return []; // the dependency entries already say what is unreachable
        }
    }

    private static async Task<DependencyHealth> ProbeAsync(Func<CancellationToken, Task> probe, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        var clock = Stopwatch.StartNew();
        try
        {
            await probe(timeout.Token).WaitAsync(timeout.Token);
            return new DependencyHealth(DependencyState.Ok, Math.Round(clock.Elapsed.TotalMilliseconds, 2), null);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            return new DependencyHealth(DependencyState.Unreachable, Math.Round(clock.Elapsed.TotalMilliseconds, 2), ex.Message);
        }
    }
}
