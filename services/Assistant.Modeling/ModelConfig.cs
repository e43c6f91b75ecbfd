using System.Text.Json;
using System.Text.Json.Nodes;

namespace Assistant.Modeling;

/// <summary>
/// What every decoder family shares in its Hugging Face <c>config.json</c>. Each family derives a
/// record with its own keys; <see cref="Source"/> keeps the file as read so keys this code does not
/// know survive a save, and known keys are rewritten only when their value changed.
/// </summary>
public abstract record ModelConfig
{
    /// <summary>The <c>model_type</c> values this library can build.</summary>
    public static IReadOnlyList<string> SupportedModelTypes { get; } = ["llama", "gpt2"];

    public abstract string ModelType { get; }
    /// <summary>The HF class name written to <c>architectures</c>.</summary>
    public abstract string Architecture { get; }

    public required int VocabSize { get; init; }
    public required int HiddenSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    public virtual int NumKeyValueHeads => NumHeads;
    public virtual int HeadDim => HiddenSize / NumHeads;
    /// <summary>The longest sequence (prompt + generated) the model accepts.</summary>
    public required int MaxPositions { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public double InitializerRange { get; init; } = 0.02;
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }

    /// <summary>The config.json this record was read from (empty for one built in code).</summary>
    public JsonObject Source { get; init; } = [];

    /// <summary>Builds an untrained model of this family with this shape.</summary>
    public abstract CausalLM CreateModel();

    /// <summary>The config.json to write: <see cref="Source"/> with the known keys brought up to date.</summary>
    public JsonObject ToJson()
    {
        var json = (JsonObject)Source.DeepClone();
        Put(json, "model_type", ModelType);
        if (!json.ContainsKey("architectures")) json["architectures"] = new JsonArray(Architecture);
        Put(json, "vocab_size", VocabSize);
        Put(json, "tie_word_embeddings", TieWordEmbeddings);
        Put(json, "initializer_range", InitializerRange);
        PutOptional(json, "bos_token_id", BosTokenId);
        PutOptional(json, "pad_token_id", PadTokenId);
        // HF accepts an int or a list; keep the single-int spelling when there is one id.
        if (EosTokenIds.Count > 0 || json.ContainsKey("eos_token_id"))
            Put(json, "eos_token_id", EosTokenIds.Count == 1 ? JsonValue.Create(EosTokenIds[0]) : new JsonArray(EosTokenIds.Select(id => (JsonNode?)id).ToArray()));
        WriteFamilyKeys(json);
        return json;
    }

    protected abstract void WriteFamilyKeys(JsonObject json);

    /// <summary>Reads <c>config.json</c> from an HF model folder and picks the family by <c>model_type</c>.</summary>
    public static ModelConfig Load(string folder)
    {
        var path = Path.Combine(folder, "config.json");
        if (!File.Exists(path))
            throw new ModelFormatException($"No config.json in '{folder}': an HF model folder needs config.json next to its weights.");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new ModelFormatException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
        return Parse(json);
    }

    public static ModelConfig Parse(JsonObject json)
    {
        var modelType = json["model_type"]?.GetValue<string>()
            ?? throw new ModelFormatException("config.json has no 'model_type'; supported: " + string.Join(", ", SupportedModelTypes) + ".");
        return modelType switch
        {
            "llama" => LlamaConfig.FromJson(json),
            "gpt2" => Gpt2Config.FromJson(json),
            _ => throw new ModelFormatException(
                $"model_type '{modelType}' is not supported; supported: {string.Join(", ", SupportedModelTypes)}."),
        };
    }

    // ---- reading keys: missing required keys and wrong types name the key ----

    protected static int RequiredInt(JsonObject json, string key) =>
        OptionalInt(json, key) ?? throw new ModelFormatException($"config.json is missing required key '{key}'.");

    protected static int? OptionalInt(JsonObject json, string key) => Read(json, key, n => n.GetValue<int>());
    protected static double? OptionalDouble(JsonObject json, string key) => Read(json, key, Number);
    protected static bool? OptionalBool(JsonObject json, string key) => Read(json, key, n => n.GetValue<bool>());
    protected static string? OptionalString(JsonObject json, string key) => Read(json, key, n => n.GetValue<string>());

    /// <summary>HF writes <c>eos_token_id</c> as an int or a list of ints.</summary>
    protected static IReadOnlyList<int> IntOrList(JsonObject json, string key) => json[key] switch
    {
        null => [],
        JsonArray array => array.Select(n => n!.GetValue<int>()).ToArray(),
        JsonNode node => Read(json, key, n => n.GetValue<int>()) is int id ? [id] : [],
    };

    /// <summary>Any JSON number as a double, whether parsed from text or built in code as an int.</summary>
    static double Number(JsonNode node) =>
        node.GetValueKind() == JsonValueKind.Number
            ? double.Parse(node.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)
            : throw new InvalidOperationException("not a number");

    static T? Read<T>(JsonObject json, string key, Func<JsonNode, T> read) where T : struct
    {
        if (json[key] is not JsonNode node) return null;
        try { return read(node); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new ModelFormatException($"config.json key '{key}' has value {node.ToJsonString()} of the wrong type ({typeof(T).Name} expected).", e);
        }
    }

    static string? Read(JsonObject json, string key, Func<JsonNode, string> read)
    {
        if (json[key] is not JsonNode node) return null;
        try { return read(node); }
        catch (InvalidOperationException e)
        {
            throw new ModelFormatException($"config.json key '{key}' has value {node.ToJsonString()}; a string is expected.", e);
        }
    }

    // ---- writing keys: an unchanged value keeps its original spelling (1e-05 stays 1e-05) ----

    protected static void Put(JsonObject json, string key, JsonNode? value)
    {
        if (json.TryGetPropertyValue(key, out var existing) && SameValue(existing, value)) return;
        json[key] = value;
    }

    protected static void PutOptional(JsonObject json, string key, int? value)
    {
        if (value is null && !json.ContainsKey(key)) return;
        Put(json, key, value is int v ? JsonValue.Create(v) : null);
    }

    static bool SameValue(JsonNode? a, JsonNode? b) => (a, b) switch
    {
        (null, null) => true,
        (JsonValue x, JsonValue y) when x.GetValueKind() == JsonValueKind.Number && y.GetValueKind() == JsonValueKind.Number =>
            Number(x) == Number(y),
        (JsonArray x, JsonArray y) => x.Count == y.Count && x.Zip(y).All(p => SameValue(p.First, p.Second)),
        (JsonObject x, JsonObject y) => x.Count == y.Count && x.All(p => y.TryGetPropertyValue(p.Key, out var v) && SameValue(p.Value, v)),
        _ => JsonNode.DeepEquals(a, b),
    };
}
