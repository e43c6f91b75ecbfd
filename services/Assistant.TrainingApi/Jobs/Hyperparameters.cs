using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Assistant.Modeling.Training;
using Assistant.TrainingApi.Apis;

namespace Assistant.TrainingApi.Jobs;

/// <summary>
/// Turns the hyperparameters a client sent (any <see cref="TrainingConfig"/> key, snake_case) into a complete,
/// validated config. Every error names the field as the client sent it (<c>learning_rate</c> at the top of a
/// seed-shaped body, <c>hyperparameters.learning_rate</c> in the full shape, <c>parameters.x</c> in a sweep).
/// </summary>
public static class Hyperparameters
{
    private static readonly JsonSerializerOptions Options = new(TrainingConfig.JsonOptions) { TypeInfoResolver = new DefaultJsonTypeInfoResolver() };

    /// <summary>Keys a client may set: the config's writable properties (computed ones like is_lora are not settable).</summary>
    private static readonly IReadOnlyDictionary<string, JsonPropertyInfo> Settable =
        Options.GetTypeInfo(typeof(TrainingConfig)).Properties.Where(p => p.Set is not null).ToDictionary(p => p.Name);

    public static IEnumerable<string> Keys => Settable.Keys;

    public static bool IsKey(string key) => Settable.ContainsKey(key);

    /// <summary>True when the key holds a whole number (batch_size), so sampled values are rounded.</summary>
    public static bool IsInteger(string key) => Settable.TryGetValue(key, out var p) && (p.PropertyType == typeof(int) || p.PropertyType == typeof(long));

    public static bool IsNumber(string key) =>
        Settable.TryGetValue(key, out var p) && (p.PropertyType == typeof(int) || p.PropertyType == typeof(long) || p.PropertyType == typeof(double));

    /// <summary>
    /// Builds the run's config from <paramref name="values"/> (key → value) with defaults for the rest.
    /// <paramref name="fieldOf"/> says how the client named each key, for error messages.
    /// </summary>
    public static TrainingConfig Build(IReadOnlyDictionary<string, JsonNode?> values, Func<string, string> fieldOf, string method, long seed)
    {
        var json = new JsonObject();
        foreach (var (key, value) in values)
        {
            if (!Settable.TryGetValue(key, out var property))
            {
                throw ApiProblem.Invalid(fieldOf(key), $"'{key}' is not a hyperparameter. Known: {string.Join(", ", Settable.Keys.Order())}.");
            }
            try
            {
                // One key at a time so a wrong type names its key, not the whole object.
                JsonSerializer.Deserialize(value?.ToJsonString() ?? "null", property.PropertyType, Options);
            }
            catch (JsonException)
            {
                throw ApiProblem.Invalid(fieldOf(key), $"{key} must be {Describe(property.PropertyType)}, not {value?.ToJsonString() ?? "null"}.");
            }
            json[key] = value?.DeepClone();
        }
        json["method"] = method;
        json["seed"] = seed;

        var config = TrainingConfig.FromJson(json.ToJsonString(), "hyperparameters");
        try
        {
            config.Validate();
        }
        catch (TrainingConfigException ex)
        {
            throw ApiProblem.Invalid(ex.Field is { } key && Settable.ContainsKey(key) ? fieldOf(key) : "hyperparameters", ex.Message);
        }
        return config;
    }

    private static string Describe(Type type) =>
        type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) ? "a number"
        : type == typeof(bool) ? "true or false"
        : type == typeof(string) ? "a string"
        : "a list of strings";
}
