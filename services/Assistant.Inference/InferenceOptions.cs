using Assistant.Modeling;
using Microsoft.Extensions.Options;

namespace Assistant.Inference;

/// <summary>The <c>Inference</c> configuration section.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>The alias this replica follows in the registry.</summary>
    public string Alias { get; set; } = Assistant.Platform.Models.ModelRegistry.ProductionAlias;

    /// <summary>Comma-separated model names to serve; empty = every registered model that has <see cref="Alias"/>.</summary>
    public string? Models { get; set; }

    /// <summary>Where downloaded versions are kept, one folder per model@version; default a folder per replica under the temp folder.</summary>
    public string? CacheDir { get; set; }

    /// <summary>Seconds between re-resolving the alias, the fallback when a deployment notice is missed.</summary>
    public double PollSeconds { get; set; } = 10;

    /// <summary>Requests decoded together per model (the engine's slots).</summary>
    public int MaxBatch { get; set; } = LlamaDecoder.MaxBatch;

    /// <summary>Requests that may wait for a slot per model; one more is refused at once (429).</summary>
    public int QueueLimit { get; set; } = 64;

    /// <summary>Versions this replica loads on demand (a request naming <c>name@N</c> or <c>name:alias</c> it does not serve); 0 = none.</summary>
    public int OnDemandCapacity { get; set; } = 2;

    /// <summary>Seconds an on-demand version stays loaded with no request before it is unloaded.</summary>
    public double OnDemandIdleSeconds { get; set; } = 600;

    /// <summary>
    /// Seconds after an on-demand version failed to load during which requests for it are refused at once with that failure,
    /// rather than each downloading and loading it again; 0 = every request tries.
    /// </summary>
    public double OnDemandRetrySeconds { get; set; } = 60;

    /// <summary>Static mode: serve this model folder, with no registry, object store or Redis.</summary>
    public string? ModelFolder { get; set; }

    /// <summary>The name the static model is served under; default the folder's name.</summary>
    public string? ModelName { get; set; }

    /// <summary>This replica's id in the replica-state hash; default Aspire's instance id, else machine name + process id.</summary>
    public string? ReplicaId { get; set; }

    /// <summary>Seconds between writes of this replica's state to Redis.</summary>
    public double ReplicaStateSeconds { get; set; } = 5;

    public bool IsStatic => !string.IsNullOrWhiteSpace(ModelFolder);

    public IReadOnlyList<string> SelectedModels =>
        (Models ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public string StaticModelName =>
        string.IsNullOrWhiteSpace(ModelName) ? Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(ModelFolder!))) : ModelName;
}

/// <summary>Checks the section at start, naming the setting at fault.</summary>
internal sealed class InferenceOptionsValidator : IValidateOptions<InferenceOptions>
{
    public ValidateOptionsResult Validate(string? name, InferenceOptions options)
    {
        var errors = new List<string>();
        if (options.MaxBatch is < 1 or > LlamaDecoder.MaxBatch)
            errors.Add($"Inference:MaxBatch is {options.MaxBatch}; it must be between 1 and {LlamaDecoder.MaxBatch}.");
        if (options.QueueLimit < 0) errors.Add($"Inference:QueueLimit is {options.QueueLimit}; it must be 0 or more.");
        if (!(options.PollSeconds > 0)) errors.Add($"Inference:PollSeconds is {options.PollSeconds}; it must be more than 0.");
        if (!(options.ReplicaStateSeconds > 0)) errors.Add($"Inference:ReplicaStateSeconds is {options.ReplicaStateSeconds}; it must be more than 0.");
        if (options.OnDemandCapacity < 0) errors.Add($"Inference:OnDemandCapacity is {options.OnDemandCapacity}; it must be 0 or more.");
        if (!(options.OnDemandIdleSeconds > 0)) errors.Add($"Inference:OnDemandIdleSeconds is {options.OnDemandIdleSeconds}; it must be more than 0.");
        if (!(options.OnDemandRetrySeconds >= 0)) errors.Add($"Inference:OnDemandRetrySeconds is {options.OnDemandRetrySeconds}; it must be 0 or more.");
        if (string.IsNullOrWhiteSpace(options.Alias)) errors.Add("Inference:Alias is empty.");
        if (options.IsStatic && !Directory.Exists(options.ModelFolder))
            errors.Add($"Inference:ModelFolder '{options.ModelFolder}' does not exist.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
