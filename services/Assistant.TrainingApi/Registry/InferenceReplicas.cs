using System.Text.Json;
using Assistant.Platform.Workers;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Registry;

/// <summary>One model as an inference replica reports it: the version it serves and its load state.</summary>
public sealed record ServedModel(string Name, int? Version, string State, DateTimeOffset? LoadedAt, string? Error);

/// <summary>What one inference replica says it serves, as of <see cref="UpdatedAt"/>.</summary>
public sealed record InferenceReplica(
    string Replica, string? Alias, IReadOnlyList<ServedModel> Models, int Running, int Waiting, DateTimeOffset StartedAt, DateTimeOffset UpdatedAt);

/// <summary>
/// Reads the replicas' own reports from <see cref="RedisKeys.InferenceReplicas"/>. A report older than
/// <see cref="RedisKeys.InferenceReplicaStaleAfter"/> is a replica that stopped without saying so: it is dropped
/// here and deleted, so a crashed replica does not count as serving forever.
/// </summary>
public sealed class InferenceReplicas(IConnectionMultiplexer redis)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async Task<IReadOnlyList<InferenceReplica>> ListAsync()
    {
        var database = redis.GetDatabase();
        var fields = await database.HashGetAllAsync(RedisKeys.InferenceReplicas);
        var now = DateTimeOffset.UtcNow;
        var live = new List<InferenceReplica>();
        foreach (var field in fields)
        {
            InferenceReplica? replica;
            try
            {
                replica = JsonSerializer.Deserialize<InferenceReplica>(field.Value.ToString(), Json);
            }
            catch (JsonException)
            {
                replica = null;
            }
            if (replica is null || now - replica.UpdatedAt > RedisKeys.InferenceReplicaStaleAfter)
            {
                await database.HashDeleteAsync(RedisKeys.InferenceReplicas, field.Name);
                continue;
            }
            live.Add(replica with { Models = replica.Models ?? [] });
        }
        return live.OrderBy(r => r.Replica, StringComparer.Ordinal).ToList();
    }
}
