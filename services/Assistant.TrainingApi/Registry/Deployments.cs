using System.Text.Json;
using StackExchange.Redis;

namespace Assistant.TrainingApi.Registry;

/// <summary>
/// Tells inference replicas that an alias moved (<see cref="Channel"/>: <c>{model, alias, version}</c>, version null
/// when the alias was removed). The alias in Postgres is the record; a replica that missed a message finds the
/// alias there when it next resolves it.
/// </summary>
public sealed class Deployments(IConnectionMultiplexer redis, ILogger<Deployments> logger)
{
    public const string Channel = "assistant:deployments";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public async Task AnnounceAsync(string model, string alias, int? version, CancellationToken ct)
    {
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(Channel), JsonSerializer.Serialize(new { model, alias, version }, Json));
        }
        catch (RedisException ex)
        {
            // The move is stored; replicas pick it up when they next resolve the alias.
            logger.LogWarning(ex, "Could not announce {Model}:{Alias} -> {Version} to inference replicas", model, alias, version);
        }
    }
}
