using System.Text.Json;
using System.Text.Json.Nodes;
using Assistant.Modeling.Training;
using Assistant.TrainingApi.Apis;

namespace Assistant.TrainingApi.Jobs;

/// <summary>Train/validation/test parts cut from one dataset version by <c>DatasetCatalog.SplitAsync</c>.</summary>
public sealed record DataSplitRequest(string Dataset, double[] Ratios, int Seed);

/// <summary>
/// What a client asks to train, read from either body the API accepts: the seed's
/// (<c>model_name</c>, <c>dataset_path</c>, <c>learning_rate</c>, <c>num_epochs</c>, <c>batch_size</c>, <c>max_length</c>)
/// or the full one (<c>base_model</c>, <c>method</c>, <c>training_data</c>, <c>split</c>, <c>hyperparameters</c>...).
/// Nothing is resolved yet; the field names the client used are kept so every later error names them.
/// </summary>
public sealed record JobRequest
{
    public required string BaseModel { get; init; }
    /// <summary><c>base_model</c>, or <c>model_name</c> in the seed's body.</summary>
    public required string BaseModelField { get; init; }
    public required string Method { get; init; }
    public string? TrainingData { get; init; }
    /// <summary><c>training_data</c>, or <c>dataset_path</c> in the seed's body.</summary>
    public required string TrainingDataField { get; init; }
    public string? ValidationData { get; init; }
    public string? TestData { get; init; }
    public DataSplitRequest? Split { get; init; }
    /// <summary>Hyperparameters as sent (key → JSON value); defaults are filled in when the job is planned.</summary>
    public required IReadOnlyDictionary<string, JsonNode?> Hyperparameters { get; init; }
    /// <summary>Where each hyperparameter came from in the body, when not <c>hyperparameters.&lt;key&gt;</c>.</summary>
    public IReadOnlyDictionary<string, string> HyperparameterFields { get; init; } = new Dictionary<string, string>();
    public long? Seed { get; init; }
    public string? Suffix { get; init; }
    public int? MaxAttempts { get; init; }

    public string FieldOf(string hyperparameter) => HyperparameterFields.GetValueOrDefault(hyperparameter) ?? $"hyperparameters.{hyperparameter}";

    /// <summary>The seed's TrainingConfig fields and their defaults there (pydantic model in the seed's API).</summary>
    private static readonly IReadOnlyDictionary<string, JsonNode> SeedDefaults = new Dictionary<string, JsonNode>
    {
        ["learning_rate"] = 2e-5,
        ["num_epochs"] = 3,
        ["batch_size"] = 4,
        ["max_length"] = 512,
    };

    private static readonly HashSet<string> FullKeys =
        ["base_model", "method", "training_data", "validation_data", "test_data", "split", "hyperparameters", "seed", "suffix", "max_attempts"];

    private static readonly HashSet<string> SeedKeys = ["model_name", "dataset_path", .. SeedDefaults.Keys];

    /// <summary>
    /// Reads a job body. Keys in <paramref name="ignored"/> belong to an enclosing request (a sweep's
    /// <c>search</c>, <c>parameters</c>); any other unknown key is an error naming it.
    /// </summary>
    public static JobRequest Parse(JsonObject body, IReadOnlySet<string>? ignored = null)
    {
        foreach (var (key, _) in body)
        {
            if (!FullKeys.Contains(key) && !SeedKeys.Contains(key) && ignored?.Contains(key) != true)
            {
                throw ApiProblem.Invalid(key, $"'{key}' is not a field of a job. Hyperparameters go in 'hyperparameters'.");
            }
        }

        var seedShaped = body.ContainsKey("model_name");
        var (baseModel, baseModelField) = OneOf(body, "base_model", "model_name");
        var (trainingData, trainingDataField) = OneOf(body, "training_data", "dataset_path");
        var method = String(body, "method") ?? TrainingMethods.Full;
        if (!TrainingMethods.All.Contains(method))
        {
            throw ApiProblem.Invalid("method", $"'{method}' is not a method: use {string.Join(", ", TrainingMethods.All)}.");
        }

        var hyperparameters = new Dictionary<string, JsonNode?>();
        var fields = new Dictionary<string, string>();
        if (body["hyperparameters"] is { } given)
        {
            if (given is not JsonObject values)
            {
                throw ApiProblem.Invalid("hyperparameters", "hyperparameters must be a JSON object of TrainingConfig keys.");
            }
            foreach (var (key, value) in values)
            {
                hyperparameters[key] = value;
            }
        }
        if (hyperparameters.GetValueOrDefault("method") is { } innerMethod)
        {
            // The method is a top-level choice; hyperparameters.method may only repeat it.
            var named = innerMethod.GetValueKind() == JsonValueKind.String ? innerMethod.GetValue<string>() : innerMethod.ToJsonString();
            if (body["method"] is not null && named != method || !TrainingMethods.All.Contains(named))
            {
                throw ApiProblem.Invalid("hyperparameters.method", $"hyperparameters.method '{named}' must be one of {string.Join(", ", TrainingMethods.All)} and agree with method.");
            }
            method = named;
            hyperparameters.Remove("method");
        }
        foreach (var key in SeedDefaults.Keys)
        {
            if (body[key] is not { } value)
            {
                continue;
            }
            if (!hyperparameters.TryAdd(key, value))
            {
                throw ApiProblem.Invalid(key, $"{key} is given twice: at the top level and in hyperparameters.");
            }
            fields[key] = key;
        }
        if (seedShaped)
        {
            // The seed's body meant the seed's defaults; keep its meaning for clients written against it.
            foreach (var (key, value) in SeedDefaults)
            {
                hyperparameters.TryAdd(key, value.DeepClone());
            }
        }

        var request = new JobRequest
        {
            BaseModel = baseModel ?? throw ApiProblem.Invalid("base_model", "A job needs a base model (base_model, or the seed's model_name)."),
            BaseModelField = baseModelField,
            Method = method,
            TrainingData = trainingData,
            TrainingDataField = trainingDataField,
            ValidationData = String(body, "validation_data"),
            TestData = String(body, "test_data"),
            Split = ParseSplit(body["split"]),
            Hyperparameters = hyperparameters,
            HyperparameterFields = fields,
            Seed = Number<long>(body, "seed"),
            Suffix = String(body, "suffix"),
            MaxAttempts = Number<int>(body, "max_attempts"),
        };
        if (request.Split is null && request.TrainingData is null)
        {
            throw ApiProblem.Invalid(trainingDataField, "A job needs training data: training_data (name@version), the seed's dataset_path, or a split.");
        }
        if (request.Split is { } split)
        {
            // Naming the split dataset as training_data too is redundant, not contradictory (the CLI does).
            if (request.TrainingData is { } data && data != split.Dataset || (request.ValidationData ?? request.TestData) is not null)
            {
                throw ApiProblem.Invalid("split", "Give either a split or training_data (with validation_data, test_data), not both.");
            }
            request = request with { TrainingData = null };
        }
        if (request.Suffix is { } suffix && (suffix.Length is 0 or > 40 || !suffix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')))
        {
            throw ApiProblem.Invalid("suffix", "suffix must be 1 to 40 letters, digits, '-' or '_'.");
        }
        if (request.MaxAttempts is < 1 or > 10)
        {
            throw ApiProblem.Invalid("max_attempts", "max_attempts must be between 1 and 10.");
        }
        return request;
    }

    private static DataSplitRequest? ParseSplit(JsonNode? node)
    {
        if (node is null)
        {
            return null;
        }
        if (node is not JsonObject split)
        {
            throw ApiProblem.Invalid("split", "split must be an object: {dataset, ratios [train, validation, test], seed}.");
        }
        foreach (var (key, _) in split)
        {
            if (key is not ("dataset" or "ratios" or "seed"))
            {
                throw ApiProblem.Invalid($"split.{key}", $"'{key}' is not a field of a split; use dataset, ratios and seed.");
            }
        }
        var dataset = String(split, "dataset", "split.") ?? throw ApiProblem.Invalid("split.dataset", "A split needs the dataset version to split (name@version).");
        double[] ratios;
        try
        {
            ratios = split["ratios"]?.Deserialize<double[]>() ?? [0.8, 0.1, 0.1];
        }
        catch (JsonException)
        {
            throw ApiProblem.Invalid("split.ratios", "ratios must be three numbers: [train, validation, test].");
        }
        if (ratios.Length != 3 || ratios.Any(r => r < 0 || !double.IsFinite(r)) || ratios[0] <= 0 || Math.Abs(ratios.Sum() - 1) > 1e-6)
        {
            throw ApiProblem.Invalid("split.ratios", "ratios must be three numbers (train, validation, test), each >= 0, train > 0, summing to 1.");
        }
        return new DataSplitRequest(dataset, ratios, Number<int>(split, "seed", "split.") ?? 42);
    }

    /// <summary>A field that has two names (the full shape's and the seed's); both given must agree.</summary>
    private static (string? Value, string Field) OneOf(JsonObject body, string name, string seedName)
    {
        var value = String(body, name);
        var seedValue = String(body, seedName);
        if (value is not null && seedValue is not null && value != seedValue)
        {
            throw ApiProblem.Invalid(seedName, $"{name} and {seedName} name the same thing and differ; send one.");
        }
        return value is null && seedValue is not null ? (seedValue, seedName) : (value, name);
    }

    private static string? String(JsonObject body, string key, string prefix = "")
    {
        var node = body[key];
        if (node is null)
        {
            return null;
        }
        if (node.GetValueKind() != JsonValueKind.String || node.GetValue<string>() is not { Length: > 0 } text)
        {
            throw ApiProblem.Invalid(prefix + key, $"{key} must be a non-empty string.");
        }
        return text.Trim();
    }

    private static T? Number<T>(JsonObject body, string key, string prefix = "") where T : struct
    {
        var node = body[key];
        if (node is null)
        {
            return null;
        }
        try
        {
            return node.Deserialize<T>();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
        {
            throw ApiProblem.Invalid(prefix + key, $"{key} must be a whole number, not {node.ToJsonString()}.");
        }
    }
}
