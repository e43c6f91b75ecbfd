using Assistant.Platform.Models;
using Microsoft.Extensions.Options;

namespace Assistant.Inference.Serving;

/// <summary>What an on-demand lease came to: a lease, or why not (with the words for the caller).</summary>
internal sealed record OnDemandLease(ModelLease? Lease, LeaseRefusal Refusal, string? Message = null);

/// <summary>
/// Versions loaded because a request named them (<c>name@N</c>, <c>name:alias</c>) although the followed alias does not
/// serve them: resolved in the registry, downloaded to the cache, loaded with their own engine, and served like the rest.
/// Concurrent requests for one version share its load. At most <c>OnDemandCapacity</c> stay loaded: a new one evicts the
/// least recently used with no request in flight, and one idle for <c>OnDemandIdleSeconds</c> is unloaded; an evicted version
/// unloads after its last request, as a replaced one does (<see cref="ServedModel.Retire"/>). A version that failed to load
/// is refused with that failure for <c>OnDemandRetrySeconds</c>: loading reads every weight, and a broken version asked
/// for in a loop would otherwise keep a core busy downloading and loading it.
/// </summary>
internal sealed class OnDemandModels : BackgroundService
{
    /// <summary>The state the replica state and /health report for a loaded on-demand version.</summary>
    public const string OnDemand = "on_demand";

    /// <summary>The cache's subfolder for on-demand downloads (the alias follower leaves it alone).</summary>
    public const string CacheFolder = "on-demand";

    sealed class Slot(CatalogVersion version)
    {
        public CatalogVersion Version { get; } = version;
        public Task<ServedModel> Load { get; set; } = null!;
        public ServedModel? Model { get; set; }
    }

    readonly ModelHost host;
    readonly IModelCatalog catalog;
    readonly InferenceOptions options;
    readonly InferenceTelemetry telemetry;
    readonly ILogger<OnDemandModels> logger;
    readonly ModelCache cache;
    readonly CancellationTokenSource stopping = new();
    readonly object gate = new();
    readonly Dictionary<string, Slot> slots = new(StringComparer.Ordinal); // by name@N, under gate
    readonly Dictionary<string, (DateTimeOffset At, string Why)> failures = new(StringComparer.Ordinal); // last failed load by name@N, under gate

    public OnDemandModels(ModelHost host, IModelCatalog catalog, IOptions<InferenceOptions> options, InferenceTelemetry telemetry, ILogger<OnDemandModels> logger)
    {
        (this.host, this.catalog, this.options, this.telemetry, this.logger) = (host, catalog, options.Value, telemetry, logger);
        cache = new ModelCache(Path.Combine(this.options.CacheDir!, CacheFolder), logger);
        cache.Prune(new HashSet<string>()); // what an earlier run of this replica left
        telemetry.ObserveOnDemand(() => Loaded);
    }

    /// <summary>Raised when an on-demand version starts loading, goes live, fails or is unloaded.</summary>
    public event Action? StateChanged;

    /// <summary>The on-demand versions loaded now.</summary>
    public IReadOnlyList<ServedModel> Loaded
    {
        get
        {
            lock (gate) return slots.Values.Where(s => s.Model is not null).Select(s => s.Model!).OrderBy(m => m.Info.Root, StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>Every on-demand version, loaded (<see cref="OnDemand"/>) or loading.</summary>
    public IReadOnlyList<ModelStatus> Status()
    {
        lock (gate)
        {
            return slots.Values.OrderBy(s => s.Version.Info.Root, StringComparer.Ordinal)
                .Select(s => new ModelStatus(s.Version.Info.Name, s.Version.Info.Version, s.Model is null ? ModelHost.Loading : OnDemand, s.Model?.LoadedAt, null, s.Model?.Info.Version))
                .ToList();
        }
    }

    /// <summary>Whether <paramref name="reference"/> names a version or an alias, which on-demand loading may serve.</summary>
    public static bool Names(string? reference) =>
        ModelRegistry.TryParseReference(reference, out _, out var version, out var alias) && (version is not null || alias is not null);

    /// <summary>
    /// A lease on the version <paramref name="reference"/> names, loading it first when it is not loaded (the caller waits;
    /// <paramref name="cancellationToken"/> ends the wait, not a load other requests share).
    /// </summary>
    public async Task<OnDemandLease> LeaseAsync(string reference, CancellationToken cancellationToken)
    {
        if (options.OnDemandCapacity == 0 || !ModelRegistry.TryParseReference(reference, out var name, out var number, out _))
            return new OnDemandLease(null, LeaseRefusal.UnknownModel);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            Slot? slot = null;
            if (number is int n)
            {
                lock (gate) slots.TryGetValue($"{name}@{n}", out slot);
            }
            if (slot is null)
            {
                CatalogVersion? found;
                try
                {
                    found = await catalog.FindAsync(reference, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Could not look up {Reference} in the registry", reference);
                    return new OnDemandLease(null, LeaseRefusal.Unavailable, $"The registry could not be asked about '{reference}' just now; send the request again.");
                }
                if (found is null) return new OnDemandLease(null, LeaseRefusal.UnknownModel);
                // The followed alias may serve this very version (name:staging pointing where production does).
                if (host.Find(found.Info.Name) is { } current && current.Info.Version == found.Info.Version && current.TryLease() is { } served)
                    return new OnDemandLease(served, LeaseRefusal.None);
                var root = found.Info.Root;
                lock (gate)
                {
                    if (!slots.TryGetValue(root, out slot))
                    {
                        if (RecentFailure(root) is { } refused) return refused;
                        if (!MakeRoom())
                        {
                            return new OnDemandLease(null, LeaseRefusal.Busy,
                                $"{root} is not loaded and every on-demand place on this replica ({options.OnDemandCapacity}) holds a version with requests running; send the request again shortly.");
                        }
                        var fresh = slots[root] = slot = new Slot(found with { Info = found.Info with { Alias = null } });
                        fresh.Load = Task.Run(() => LoadAsync(fresh), CancellationToken.None);
                    }
                }
            }

            ServedModel model;
            try
            {
                model = await slot.Load.WaitAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                lock (gate) return RecentFailure(slot.Version.Info.Root) ?? new OnDemandLease(null, LeaseRefusal.LoadFailed, $"{slot.Version.Info.Root} could not be loaded: {e.Message}");
            }
            if (model.TryLease() is { } lease) return new OnDemandLease(lease, LeaseRefusal.None);
            // Evicted between its load and this lease: look again.
        }
        return new OnDemandLease(null, LeaseRefusal.Busy, $"'{reference}' was unloaded as soon as it was loaded (the on-demand places are contended); send the request again.");
    }

    /// <summary>The refusal for <paramref name="root"/> while its last failed load is recent, else null. Under the gate.</summary>
    OnDemandLease? RecentFailure(string root)
    {
        if (!failures.TryGetValue(root, out var failure)) return null;
        var retryAt = failure.At + TimeSpan.FromSeconds(options.OnDemandRetrySeconds);
        var wait = retryAt - DateTimeOffset.UtcNow;
        if (wait <= TimeSpan.Zero)
        {
            failures.Remove(root);
            return null;
        }
        return new OnDemandLease(null, LeaseRefusal.LoadFailed,
            $"{root} could not be loaded: {failure.Why} It is tried again from {retryAt:HH:mm:ss} UTC, in {Math.Ceiling(wait.TotalSeconds):0} s.");
    }

    /// <summary>Frees a place for one more version: evicts the least recently used loaded version with no request in flight. Under the gate.</summary>
    bool MakeRoom()
    {
        while (slots.Count >= options.OnDemandCapacity)
        {
            var idle = slots.Values.Where(s => s.Model is { InFlight: 0 }).MaxBy(s => s.Model!.IdleFor);
            if (idle is null) return false;
            Evict(idle, "to make room");
        }
        return true;
    }

    /// <summary>Takes <paramref name="slot"/> out of service; the version unloads after its last request. Under the gate.</summary>
    void Evict(Slot slot, string why)
    {
        slots.Remove(slot.Version.Info.Root);
        slot.Model!.Retire();
        logger.LogInformation("Unloading on-demand {Model} {Why}", slot.Version.Info.Root, why);
        cache.Remove(slot.Version.Info.Root); // not a prune: other versions may be downloading beside it
    }

    async Task<ServedModel> LoadAsync(Slot slot)
    {
        var info = slot.Version.Info;
        StateChanged?.Invoke();
        try
        {
            var folder = await cache.FetchAsync(slot.Version, catalog, stopping.Token);
            logger.LogInformation("Loading {Model} on demand from {Folder}", info.Root, folder);
            // Loading reads and checks every weight: seconds of CPU, off the thread pool.
            var model = await Task.Factory.StartNew(() => ServedModel.Load(info, folder, options, telemetry, logger),
                stopping.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            lock (gate)
            {
                if (slots.GetValueOrDefault(info.Root) == slot) slot.Model = model;
                failures.Remove(info.Root);
            }
            if (slot.Model is null) model.Retire(); // the service stopped meanwhile
            else logger.LogInformation("Serving {Model} on demand: {Slots} slots", info.Root, model.Engine.Slots);
            StateChanged?.Invoke();
            return model;
        }
        catch (Exception e)
        {
            // A request after OnDemandRetrySeconds tries again; the versions served meanwhile are untouched.
            lock (gate)
            {
                if (slots.GetValueOrDefault(info.Root) == slot) slots.Remove(info.Root);
                failures[info.Root] = (DateTimeOffset.UtcNow, e.Message.EndsWith('.') ? e.Message : e.Message + ".");
                cache.Remove(info.Root);
            }
            logger.LogError(e, "Could not load {Model} on demand", info.Root);
            StateChanged?.Invoke();
            throw;
        }
    }

    /// <summary>Unloads on-demand versions idle for longer than <c>OnDemandIdleSeconds</c>.</summary>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var idleFor = TimeSpan.FromSeconds(options.OnDemandIdleSeconds);
        var every = TimeSpan.FromSeconds(Math.Clamp(options.OnDemandIdleSeconds / 4, 0.05, 30));
        try
        {
            while (true)
            {
                await Task.Delay(every, stoppingToken);
                UnloadIdle(idleFor);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    internal void UnloadIdle(TimeSpan idleFor)
    {
        var changed = false;
        lock (gate)
        {
            foreach (var slot in slots.Values.Where(s => s.Model is { InFlight: 0 } m && m.IdleFor >= idleFor).ToList())
            {
                Evict(slot, $"after {idleFor.TotalSeconds:0.#} s without a request");
                changed = true;
            }
        }
        if (changed) StateChanged?.Invoke();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        stopping.Cancel();
        await base.StopAsync(cancellationToken);
        lock (gate)
        {
            foreach (var slot in slots.Values.Where(s => s.Model is not null)) slot.Model!.Retire();
            slots.Clear();
        }
    }

    // Not disposing `stopping`: the container disposes this instance twice (as itself and as a hosted service).
    public override void Dispose()
    {
        stopping.Cancel();
        base.Dispose();
    }
}
