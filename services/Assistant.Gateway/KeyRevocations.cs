using Assistant.Platform.Workers;
using StackExchange.Redis;

namespace Assistant.Gateway;

/// <summary>
/// Makes a revocation take effect at once on every gateway replica: the replica that revokes evicts the key from
/// its own cache before answering, and publishes the key id on Redis for the others, which evict it when it arrives.
/// Should Redis lose the message, the other replicas' caches forget the key within <see cref="ApiKeyCache.KeptFor"/>.
/// </summary>
public sealed class KeyRevocations(IConnectionMultiplexer redis, ApiKeyCache cache, ILogger<KeyRevocations> logger) : BackgroundService
{
    private static readonly RedisChannel Channel = RedisChannel.Literal(RedisKeys.ApiKeyRevocations);

    public async Task RevokedAsync(Guid keyId)
    {
        cache.Evict(keyId);
        try
        {
            await redis.GetSubscriber().PublishAsync(Channel, keyId.ToString());
        }
        catch (RedisException ex)
        {
            logger.LogWarning(ex, "Revocation of key {ApiKeyId} could not be announced; other replicas forget it within {Seconds} s",
                keyId, ApiKeyCache.KeptFor.TotalSeconds);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // StackExchange.Redis resubscribes by itself after a reconnect; only the first subscription needs retrying.
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await redis.GetSubscriber().SubscribeAsync(Channel, (_, message) =>
                {
                    if (Guid.TryParse(message.ToString(), out var keyId))
                    {
                        cache.Evict(keyId);
                    }
                });
                return;
            }
            catch (RedisException ex)
            {
                logger.LogWarning(ex, "Cannot subscribe to key revocations yet; retrying");
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }
        }
    }
}
