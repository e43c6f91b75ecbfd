using System.Text.Json.Nodes;
using Assistant.Modeling;

namespace Assistant.Inference.Serving;

/// <summary>Where a version came from: its base model, the job that trained it and the dataset versions it saw.</summary>
internal sealed record ModelLineage(string Source, string? BaseModel, string? BaseModelName, string? JobId, JsonNode? Datasets);

/// <summary>A model version as the registry (or the static folder) describes it.</summary>
internal sealed record ModelVersionInfo(string Name, int Version, string? Alias, DateTimeOffset CreatedAt, ModelLineage? Lineage = null)
{
    /// <summary><c>name@version</c>: what <c>X-Model-Version</c> and <c>system_fingerprint</c> carry.</summary>
    public string Root => $"{Name}@{Version}";
}

/// <summary>
/// One loaded version and its engine, shared by the requests that lease it. The host holds one reference while the version
/// is current; each request holds one while it runs. When a newer version replaces it, the host lets go of its reference
/// and the version is unloaded (engine stopped, weights freed) when the last request leaves: no request ever loses its model.
/// </summary>
internal sealed class ServedModel
{
    int references = 1; // the host's
    int retired;
    long lastUsed = Environment.TickCount64;
    readonly TaskCompletionSource unloaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly ILogger logger;

    ServedModel(ModelVersionInfo info, LoadedModel model, BatchEngine engine, string folder, ILogger logger)
    {
        (Info, Model, Engine, Folder, this.logger) = (info, model, engine, folder, logger);
        Tags = [new("model", info.Name), new("version", info.Version)];
    }

    public ModelVersionInfo Info { get; }
    public LoadedModel Model { get; }
    public BatchEngine Engine { get; }
    public string Folder { get; }
    public DateTimeOffset LoadedAt { get; } = DateTimeOffset.UtcNow;
    /// <summary>Metric tags: model and version.</summary>
    public KeyValuePair<string, object?>[] Tags { get; }
    /// <summary>Completes once the version is unloaded (its last request gone after it was replaced).</summary>
    public Task Unloaded => unloaded.Task;

    /// <summary>
    /// Loads <paramref name="folder"/>, starts its engine and sends one token through it, so a version that cannot answer
    /// fails here, before it takes any traffic.
    /// </summary>
    public static ServedModel Load(ModelVersionInfo info, string folder, InferenceOptions options, InferenceTelemetry telemetry, ILogger logger)
    {
        var model = LoadedModel.Load(folder);
        BatchEngine? engine = null;
        try
        {
            engine = new BatchEngine(model, info.Root, [new("model", info.Name), new("version", info.Version)], options.MaxBatch, options.QueueLimit, telemetry, logger);
            var first = model.Tokenizer.Special.Bos?.Id ?? 0;
            var warmUp = new PreparedGeneration([first], SamplingOptions.Greedy(1) with { StopTokenIds = [] }, [], SkipSpecialTokens: true);
            engine.TrySubmit(warmUp, CancellationToken.None, quiet: true)!.CollectAsync(CancellationToken.None).GetAwaiter().GetResult();
            return new ServedModel(info, model, engine, folder, logger);
        }
        catch
        {
            engine?.Dispose();
            model.Dispose();
            throw;
        }
    }

    /// <summary>Requests holding this version now.</summary>
    public int InFlight => Math.Max(0, Volatile.Read(ref references) - (Volatile.Read(ref retired) == 0 ? 1 : 0));

    /// <summary>How long since a request last started or ended on this version.</summary>
    public TimeSpan IdleFor => TimeSpan.FromMilliseconds(Environment.TickCount64 - Interlocked.Read(ref lastUsed));

    /// <summary>A lease for one request, or null when this version is already unloading (the caller reads the host again).</summary>
    public ModelLease? TryLease()
    {
        for (var seen = Volatile.Read(ref references); seen > 0; seen = Volatile.Read(ref references))
            if (Interlocked.CompareExchange(ref references, seen + 1, seen) == seen)
            {
                Interlocked.Exchange(ref lastUsed, Environment.TickCount64);
                return new ModelLease(this);
            }
        return null;
    }

    /// <summary>The host no longer serves this version: it unloads once its last request has left.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref retired, 1) == 0) Release();
    }

    internal void Release()
    {
        Interlocked.Exchange(ref lastUsed, Environment.TickCount64);
        if (Interlocked.Decrement(ref references) != 0) return;
        // Off the request's thread: stopping the engine joins its decode thread.
        ThreadPool.UnsafeQueueUserWorkItem(static model => model.Unload(), this, preferLocal: false);
    }

    void Unload()
    {
        try
        {
            Engine.Dispose();
            Model.Dispose();
            logger.LogInformation("Unloaded {Model}: its last request has finished", Info.Root);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Unloading {Model} failed", Info.Root);
        }
        finally
        {
            unloaded.TrySetResult();
        }
    }
}

/// <summary>One request's hold on a served version; disposing it (at the end of the response) lets the version unload.</summary>
internal sealed class ModelLease(ServedModel model) : IDisposable
{
    int released;

    public ServedModel Model => model;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref released, 1) == 0) model.Release();
    }
}
