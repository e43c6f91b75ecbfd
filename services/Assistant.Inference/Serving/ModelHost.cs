using Microsoft.Extensions.Options;

namespace Assistant.Inference.Serving;

/// <summary>How one selected model stands on this replica.</summary>
/// <param name="Version">The version served when ready; the version being loaded (or that failed) otherwise.</param>
/// <param name="ServingVersion">The version answering requests meanwhile (null when none).</param>
internal sealed record ModelStatus(string Name, int? Version, string State, DateTimeOffset? LoadedAt, string? Error, int? ServingVersion);

/// <summary>Why a lease was not given (the last three only for versions loaded on demand).</summary>
internal enum LeaseRefusal { None, NothingDeployed, UnknownModel, Unavailable, LoadFailed, Busy }

/// <summary>
/// The models this replica serves, by name. A new version is loaded next to the current one and swapped in by one
/// reference exchange; requests lease the version they start on, so a swap never fails a request, and the old version
/// unloads when its last request leaves. A version that fails to load leaves the current one serving.
/// </summary>
internal sealed class ModelHost : IDisposable
{
    /// <summary>Load states as the replica state and /health report them.</summary>
    public const string Ready = "ready", Loading = "loading", Failed = "failed";

    sealed class Entry(string name)
    {
        public string Name { get; } = name;
        public ServedModel? Current { get; set; }
        public int? Version { get; set; }
        public string State { get; set; } = Loading;
        public string? Error { get; set; }
    }

    readonly InferenceOptions options;
    readonly InferenceTelemetry telemetry;
    readonly ILogger<ModelHost> logger;
    readonly object gate = new();
    readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal); // under gate
    volatile ServedModel[] served = [];  // by name; replaced whole on every change, read without the gate
    volatile bool resolved;

    public ModelHost(IOptions<InferenceOptions> options, InferenceTelemetry telemetry, ILogger<ModelHost> logger)
    {
        (this.options, this.telemetry, this.logger) = (options.Value, telemetry, logger);
        telemetry.Observe(this);
    }

    /// <summary>Raised after a model starts loading, goes live, fails or is removed (the replica state is written at once).</summary>
    public event Action? StateChanged;

    /// <summary>The alias served versions are reported under (null for a static folder).</summary>
    public string? Alias => options.IsStatic ? null : options.Alias;

    /// <summary>The current version of every model, by name.</summary>
    public IReadOnlyList<ServedModel> Served => served;

    /// <summary>
    /// Ready for traffic: the models to serve are known and none is still on its first load, and something can be served
    /// (or nothing is deployed). A model whose only version failed to load does not take the others out of rotation: its
    /// requests get 503 while the rest serve; a replica that can serve nothing at all is not ready.
    /// </summary>
    public bool IsReady
    {
        get
        {
            if (!resolved) return false;
            lock (gate)
            {
                return entries.Count == 0
                    || (entries.Values.Any(e => e.Current is not null) && entries.Values.All(e => e.Current is not null || e.State == Failed));
            }
        }
    }

    /// <summary>True once the first look at what to serve has finished (before that, /health says loading).</summary>
    public bool IsResolved => resolved;

    public void MarkResolved() => resolved = true;

    public IReadOnlyList<ModelStatus> Status()
    {
        lock (gate)
        {
            return entries.Values.OrderBy(e => e.Name, StringComparer.Ordinal)
                .Select(e => new ModelStatus(e.Name, e.Version, e.State, e.Current?.LoadedAt, e.Error, e.Current?.Info.Version))
                .ToList();
        }
    }

    /// <summary>The version serving <paramref name="name"/> now, if any.</summary>
    public ServedModel? Find(string name) => served.FirstOrDefault(m => m.Info.Name == name);

    /// <summary>
    /// A lease on the model <paramref name="reference"/> names (<c>name</c>, <c>name@N</c> of the served version, or
    /// <c>name:alias</c> of the followed alias); null = the first served model.
    /// </summary>
    public ModelLease? TryLease(string? reference, out LeaseRefusal refusal)
    {
        while (true)
        {
            var snapshot = served;
            if (snapshot.Length == 0)
            {
                refusal = LeaseRefusal.NothingDeployed;
                return null;
            }
            var model = reference is null ? snapshot[0] : snapshot.FirstOrDefault(m => IsNamedBy(m, reference));
            if (model is null)
            {
                refusal = LeaseRefusal.UnknownModel;
                return null;
            }
            // Null only when the version was swapped out and its last request left meanwhile: read the host again.
            if (model.TryLease() is { } lease)
            {
                refusal = LeaseRefusal.None;
                return lease;
            }
        }
    }

    bool IsNamedBy(ServedModel model, string reference)
    {
        var info = model.Info;
        if (reference == info.Name) return true;
        var at = reference.LastIndexOf('@');
        if (at > 0) return reference[..at] == info.Name && reference[(at + 1)..] == info.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var colon = reference.LastIndexOf(':');
        return colon > 0 && Alias is not null && reference[..colon] == info.Name && reference[(colon + 1)..] == Alias;
    }

    /// <summary>Loads <paramref name="folder"/> as version <paramref name="info"/> (see the overload).</summary>
    public Task<bool> LoadAsync(ModelVersionInfo info, string folder, CancellationToken cancellationToken) =>
        LoadAsync(info, _ => Task.FromResult(folder), cancellationToken);

    /// <summary>
    /// Fetches version <paramref name="info"/>'s folder (a download: the model is "loading" meanwhile), loads it next to the
    /// current version and swaps it in. On failure the model is reported failed with the error and the current version keeps
    /// serving. False when the version did not go live.
    /// </summary>
    public async Task<bool> LoadAsync(ModelVersionInfo info, Func<CancellationToken, Task<string>> fetch, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (gate)
        {
            if (!entries.TryGetValue(info.Name, out entry!)) entries[info.Name] = entry = new Entry(info.Name);
            (entry.Version, entry.State, entry.Error) = (info.Version, Loading, null);
        }
        StateChanged?.Invoke();
        ServedModel loaded;
        try
        {
            var folder = await fetch(cancellationToken);
            logger.LogInformation("Loading {Model} from {Folder}", info.Root, folder);
            // Loading reads and checks every weight: seconds of CPU, off the thread pool.
            loaded = await Task.Factory.StartNew(() => ServedModel.Load(info, folder, options, telemetry, logger),
                cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw; // the service is stopping: not the version's fault
        }
        catch (Exception e)
        {
            lock (gate)
            {
                if (entries.GetValueOrDefault(info.Name) == entry && entry.Version == info.Version) (entry.State, entry.Error) = (Failed, e.Message);
            }
            logger.LogError(e, "Could not load {Model}; {Serving}", info.Root,
                entry.Current is { } current ? $"{current.Info.Root} keeps serving" : "nothing serves it");
            StateChanged?.Invoke();
            return false;
        }

        ServedModel? old;
        lock (gate)
        {
            if (entries.GetValueOrDefault(info.Name) != entry || entry.Version != info.Version)
            {
                old = loaded; // removed or superseded while loading: this version never goes live
                loaded = null!;
            }
            else
            {
                old = entry.Current;
                entry.Current = loaded;
                (entry.State, entry.Error) = (Ready, null);
                Publish();
            }
        }
        old?.Retire(); // it unloads when its last request leaves
        StateChanged?.Invoke();
        if (loaded is null) return false;
        var engine = loaded.Engine;
        logger.LogInformation("Serving {Model}{Previous}: {Slots} slots ({Kind}), context {Context}, queue {Queue}",
            info.Root, old is null ? "" : $" (was {old.Info.Root})", engine.Slots, engine.IsBatched ? "batched" : "one by one", engine.ContextLength, options.QueueLimit);
        return true;
    }

    /// <summary>Stops serving <paramref name="name"/> (its alias was removed); requests already running finish.</summary>
    public void Remove(string name)
    {
        Entry? entry;
        lock (gate)
        {
            if (!entries.Remove(name, out entry)) return;
            Publish();
        }
        entry.Current?.Retire();
        logger.LogInformation("No longer serving {Model}", name);
    }

    /// <summary>Names of the models selected for serving, loaded or not.</summary>
    public IReadOnlyList<string> Names()
    {
        lock (gate) return [.. entries.Keys];
    }

    void Publish() =>
        served = entries.Values.Where(e => e.Current is not null).Select(e => e.Current!).OrderBy(m => m.Info.Name, StringComparer.Ordinal).ToArray();

    public void Dispose()
    {
        List<ServedModel> all;
        lock (gate)
        {
            all = entries.Values.Where(e => e.Current is not null).Select(e => e.Current!).ToList();
            entries.Clear();
            Publish();
        }
        foreach (var model in all) model.Retire();
    }
}
