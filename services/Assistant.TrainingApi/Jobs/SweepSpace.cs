using System.Text.Json;
using System.Text.Json.Nodes;
using Assistant.TrainingApi.Apis;

namespace Assistant.TrainingApi.Jobs;

/// <summary>
/// The trials of a sweep: every combination of the listed values (<c>grid</c>), or <c>max_trials</c> draws
/// (<c>random</c>) where each parameter is a list to choose from or a range <c>{min, max, log}</c>.
/// Draws are seeded, so the same request gives the same trials.
/// </summary>
public static class SweepSpace
{
    public const string Grid = "grid";
    public const string Random = "random";
    public const int MostTrials = 100;

    public static List<Dictionary<string, JsonNode?>> Expand(string search, JsonObject parameters, int? maxTrials, long seed)
    {
        if (parameters.Count == 0)
        {
            throw ApiProblem.Invalid("parameters", "A sweep needs at least one parameter to vary.");
        }
        foreach (var (name, _) in parameters)
        {
            if (!Hyperparameters.IsKey(name) || name is "seed" or "method")
            {
                throw ApiProblem.Invalid($"parameters.{name}", $"'{name}' is not a hyperparameter a sweep can vary.");
            }
        }
        return search == Grid ? GridOf(parameters, maxTrials) : Draw(parameters, maxTrials ?? 10, seed);
    }

    private static List<Dictionary<string, JsonNode?>> GridOf(JsonObject parameters, int? maxTrials)
    {
        var trials = new List<Dictionary<string, JsonNode?>> { new() };
        foreach (var (name, node) in parameters)
        {
            if (node is not JsonArray { Count: > 0 } values)
            {
                throw ApiProblem.Invalid($"parameters.{name}", $"A grid parameter is a non-empty list of values, e.g. \"{name}\": [a, b].");
            }
            if ((long)trials.Count * values.Count > Math.Min(maxTrials ?? MostTrials, MostTrials))
            {
                throw ApiProblem.Invalid("max_trials", $"The grid has more than {Math.Min(maxTrials ?? MostTrials, MostTrials)} points; narrow the parameters or raise max_trials (at most {MostTrials}).");
            }
            trials = trials.SelectMany(t => values.Select(v => new Dictionary<string, JsonNode?>(t) { [name] = v?.DeepClone() })).ToList();
        }
        return trials;
    }

    private static List<Dictionary<string, JsonNode?>> Draw(JsonObject parameters, int trials, long seed)
    {
        var random = new System.Random(unchecked((int)seed));
        var draws = Enumerable.Range(0, trials).Select(_ => new Dictionary<string, JsonNode?>()).ToList();
        foreach (var (name, node) in parameters)
        {
            Func<JsonNode?> draw = node switch
            {
                JsonArray { Count: > 0 } values => () => values[random.Next(values.Count)]?.DeepClone(),
                JsonObject range => RangeOf(name, range, random),
                _ => throw ApiProblem.Invalid($"parameters.{name}", "A random parameter is a list to choose from or a range {\"min\": a, \"max\": b, \"log\": false}."),
            };
            foreach (var trial in draws)
            {
                trial[name] = draw();
            }
        }
        return draws;
    }

    private static Func<JsonNode?> RangeOf(string name, JsonObject range, System.Random random)
    {
        var field = $"parameters.{name}";
        if (!Hyperparameters.IsNumber(name))
        {
            throw ApiProblem.Invalid(field, $"{name} is not a number; give a list of values to choose from.");
        }
        double min, max;
        bool log;
        try
        {
            min = range["min"]?.GetValue<double>() ?? throw ApiProblem.Invalid($"{field}.min", "A range needs min.");
            max = range["max"]?.GetValue<double>() ?? throw ApiProblem.Invalid($"{field}.max", "A range needs max.");
            log = range["log"]?.GetValue<bool>() ?? false;
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or JsonException)
        {
            throw ApiProblem.Invalid(field, "min and max must be numbers and log true or false.");
        }
        if (!(min < max) || !double.IsFinite(min) || !double.IsFinite(max))
        {
            throw ApiProblem.Invalid($"{field}.max", "max must be greater than min.");
        }
        if (log && min <= 0)
        {
            throw ApiProblem.Invalid($"{field}.min", "A log range needs min > 0.");
        }
        var integer = Hyperparameters.IsInteger(name);
        return () =>
        {
            var u = random.NextDouble();
            var value = log ? Math.Exp(Math.Log(min) + u * (Math.Log(max) - Math.Log(min))) : min + u * (max - min);
            return integer ? JsonValue.Create((long)Math.Round(value)) : JsonValue.Create(value);
        };
    }
}
