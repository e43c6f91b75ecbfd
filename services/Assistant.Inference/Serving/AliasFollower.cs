using System.Text.Json;
using System.Threading.Channels;
using Assistant.Platform.Workers;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Assistant.Inference.Serving;

/// <summary>
/// Keeps the model host serving what the alias points at. It resolves the alias at start, whenever a deployment notice
/// arrives on Redis (<see cref="RedisKeys.Deployments"/>), and every <c>PollSeconds</c> in case a notice was missed
/// (Postgres holds the alias; Redis only says when to look). A version that failed to load is not tried again by the
/// poll, only by a new notice for its model, so a broken version is not downloaded every few seconds.
/// </summary>
internal sealed class AliasFollower(
    ModelHost host, IModelCatalog catalog, IOptions<InferenceOptions> options, ILogger<AliasFollower> logger, IConnectionMultiplexer? redis = null)
    : BackgroundService
{
    readonly InferenceOptions settings = options.Value;
    readonly ModelCache cache = new(options.Value.CacheDir!, logger);
    readonly Channel<string> notices = Channel.CreateUnbounded<string>();
    readonly Dictionary<string, int> failed = new(StringComparer.Ordinal); // model -> version that failed (follower thread only)
    bool subscribed;

    /// <summary>A deployment notice: <paramref name="model"/>'s <paramref name="alias"/> moved to <paramref name="version"/> (null = removed).</summary>
    public void Notify(string model, string alias, int? version)
    {
        if (alias != settings.Alias) return;
        if (settings.SelectedModels is { Count: > 0 } selected && !selected.Contains(model, StringComparer.Ordinal)) return;
        logger.LogInformation("Deployment notice: {Model}:{Alias} -> {Version}", model, alias, version?.ToString() ?? "removed");
        notices.Writer.TryWrite(model);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        logger.LogInformation("Following alias {Alias} for {Models}, cache {Cache}", settings.Alias,
            settings.SelectedModels.Count == 0 ? "every model that has it" : string.Join(", ", settings.SelectedModels), cache.Root);
        var forced = new HashSet<string>(StringComparer.Ordinal);
        while (!stoppingToken.IsCancellationRequested)
        {
            await SubscribeAsync();
            try
            {
                await RefreshAsync(forced, stoppingToken);
                host.MarkResolved();
                forced.Clear();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                logger.LogWarning(e, "Could not resolve alias {Alias}; what is loaded keeps serving", settings.Alias);
            }

            using var poll = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            poll.CancelAfter(TimeSpan.FromSeconds(settings.PollSeconds));
            try
            {
                forced.Add(await notices.Reader.ReadAsync(poll.Token));
                while (notices.Reader.TryRead(out var more)) forced.Add(more);
            }
            catch (OperationCanceledException)
            {
                // The poll interval passed (or the service stops: the loop condition says which).
            }
        }
    }

    /// <summary>One look at the alias: remove models it left, load versions it moved to, drop folders no longer needed.</summary>
    internal async Task RefreshAsync(IReadOnlySet<string> forced, CancellationToken cancellationToken)
    {
        var targets = await catalog.ResolveAsync(settings.Alias, settings.SelectedModels, cancellationToken);
        foreach (var name in host.Names())
            if (!targets.Any(t => t.Info.Name == name)) host.Remove(name);

        foreach (var target in targets)
        {
            var (name, version) = (target.Info.Name, target.Info.Version);
            if (host.Find(name)?.Info.Version == version) continue;
            if (failed.GetValueOrDefault(name) == version && !forced.Contains(name)) continue;
            var loaded = await host.LoadAsync(target.Info, ct => cache.FetchAsync(target, catalog, ct), cancellationToken);
            if (loaded) failed.Remove(name);
            else failed[name] = version;
        }
        cache.Prune(host.Served.Select(m => m.Info.Root).Append(OnDemandModels.CacheFolder).ToHashSet(StringComparer.Ordinal));
    }

    async Task SubscribeAsync()
    {
        if (subscribed || redis is null) return;
        try
        {
            var channel = await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal(RedisKeys.Deployments));
            channel.OnMessage(message => OnNotice(message.Message));
            subscribed = true; // the client subscribes again by itself after a reconnect
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            logger.LogWarning(e, "Could not subscribe to {Channel}; polling every {Seconds} s until it works", RedisKeys.Deployments, settings.PollSeconds);
        }
    }

    void OnNotice(RedisValue message)
    {
        try
        {
            using var json = JsonDocument.Parse((string)message!);
            var root = json.RootElement;
            var version = root.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : (int?)null;
            Notify(root.GetProperty("model").GetString()!, root.GetProperty("alias").GetString()!, version);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            logger.LogWarning("Ignored a deployment notice that is not {{model, alias, version}}: {Message}", (string?)message);
        }
    }
}
