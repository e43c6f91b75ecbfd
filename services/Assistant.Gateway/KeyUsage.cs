using System.Collections.Concurrent;
using Assistant.Platform.Security;

namespace Assistant.Gateway;

/// <summary>
/// Keeps <c>last_used_at</c> of keys current without a write per request: a key is noted at most once a
/// <see cref="Resolution"/>, and the notes are written by this background loop, off the request path.
/// </summary>
public sealed class KeyUsage(IServiceScopeFactory scopes, ILogger<KeyUsage> logger) : BackgroundService
{
    public static readonly TimeSpan Resolution = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan FlushEvery = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _noted = new();
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _pending = new();

    public void Touch(Guid keyId, DateTimeOffset now)
    {
        if (_noted.TryGetValue(keyId, out var noted) && now - noted < Resolution)
        {
            return;
        }
        _noted[keyId] = now;
        _pending[keyId] = now;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushEvery);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            await FlushAsync(stoppingToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        if (_pending.IsEmpty)
        {
            return;
        }
        var batch = new List<KeyValuePair<Guid, DateTimeOffset>>();
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var at))
            {
                batch.Add(new(id, at));
            }
        }
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await scope.ServiceProvider.GetRequiredService<ApiKeyStore>().RecordUseAsync(batch, ct);
        }
        catch (Exception ex)
        {
            // A lost note only makes last_used_at a minute stale; the next use notes it again. Never fail the loop
            // or the shutdown over it.
            foreach (var (id, _) in batch)
            {
                _noted.TryRemove(id, out _);
            }
            logger.LogWarning(ex, "Last use of {Count} API key(s) could not be recorded", batch.Count);
        }
    }
}
