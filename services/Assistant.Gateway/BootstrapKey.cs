using Assistant.Platform.Security;
using Microsoft.Extensions.Options;

namespace Assistant.Gateway;

/// <summary>
/// Stores the AppHost's admin key (the <c>admin-api-key</c> parameter) as the bootstrap key at start, so there is
/// always one key that can create the others. A changed parameter retires the previous bootstrap key. The gateway
/// reports ready only once this is done. The key itself is never logged; its id is.
/// </summary>
public sealed class BootstrapKey(IServiceScopeFactory scopes, IOptions<AuthOptions> options, KeyRevocations revocations, ILogger<BootstrapKey> logger)
    : BackgroundService
{
    private volatile bool _stored;

    public bool Stored => _stored;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var (key, retired) = await scope.ServiceProvider.GetRequiredService<ApiKeyStore>()
                    .UpsertBootstrapAsync(options.Value.AdminApiKey, stoppingToken);
                foreach (var old in retired)
                {
                    logger.LogInformation("Bootstrap admin key {ApiKeyId} retired: the admin-api-key parameter changed", old);
                    await revocations.RevokedAsync(old);
                }
                logger.LogInformation("Bootstrap admin key {ApiKeyId} is ready", key.Id);
                _stored = true;
                return;
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The training API applies migrations; until it has, the table may not exist yet.
                logger.LogWarning(ex, "The bootstrap admin key cannot be stored yet; retrying");
                await Task.Delay(TimeSpan.FromSeconds(2), stoppingToken);
            }
        }
    }
}
