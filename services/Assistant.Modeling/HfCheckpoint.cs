using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>How <see cref="HfCheckpoint.Save"/> writes a model folder.</summary>
public sealed record HfSaveOptions
{
    /// <summary>Above this many bytes of weights, write <c>model-0000i-of-0000n.safetensors</c> shards plus an index (HF's default is 5 GB).</summary>
    public long MaxShardBytes { get; init; } = 5_000_000_000;
    public SafetensorsDType DType { get; init; } = SafetensorsDType.F32;
    /// <summary>Folder whose other files (tokenizer, README...) are copied through; defaults to the model's <see cref="CausalLM.SourceFolder"/>.</summary>
    public string? CopyFilesFrom { get; init; }
    /// <summary>Called last with the target folder, e.g. to write tokenizer files for a new model.</summary>
    public Action<string>? WriteExtraFiles { get; init; }
}

/// <summary>
/// A Hugging Face model folder: <c>config.json</c>, <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>, optional <c>generation_config.json</c>, and other files
/// (tokenizer...) that are carried through untouched. Loads to fp32; save -> load -> save is bit-exact.
/// </summary>
public static partial class HfCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string GenerationConfigFile = "generation_config.json";
    public const string WeightsFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    static readonly JsonSerializerOptions JsonWriteOptions = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // keep non-ASCII tokens readable, as HF writes them
    };

    /// <summary>Loads the model in <paramref name="folder"/> (fp32), in eval mode, on <paramref name="device"/> (CPU by default).</summary>
    public static CausalLM Load(string folder, Device? device = null)
    {
        var config = ModelConfig.Load(folder);
        var model = CreateUntrained(config);
        LoadWeights(model, folder);
        var generationPath = Path.Combine(folder, GenerationConfigFile);
        if (File.Exists(generationPath)) model.GenerationConfig = ReadJsonObject(generationPath);
        model.SourceFolder = Path.GetFullPath(folder);
        model.eval();
        if (device is not null && device.type != DeviceType.CPU) model.to(device);
        return model;
    }

    /// <summary>Builds the model for <paramref name="config"/> without disturbing the caller's global RNG stream.</summary>
    public static CausalLM CreateUntrained(ModelConfig config)
    {
        // Module constructors draw their default init from the global generator; a training run
        // seeded before loading must see the same stream whatever model it loads.
        using var state = random.get_rng_state();
        try { return config.CreateModel(); }
        finally { random.set_rng_state(state); }
    }

    /// <summary>Copies the checkpoint's tensors into <paramref name="model"/>, matching HF keys by name.</summary>
    public static void LoadWeights(CausalLM model, string folder)
    {
        var readers = new Dictionary<string, Safetensors.Reader>(StringComparer.Ordinal);
        try
        {
            var located = LocateTensors(folder, readers);
            var used = new HashSet<string>(StringComparer.Ordinal);
            using var _ = no_grad();
            foreach (var (name, target) in model.state_dict())
            {
                var candidates = new[] { name }.Concat(model.CheckpointAliases(name)).ToArray();
                var key = candidates.FirstOrDefault(located.ContainsKey)
                    ?? throw new ModelFormatException(
                        $"Checkpoint '{folder}' has no tensor '{name}'" +
                        (candidates.Length > 1 ? $" (nor {string.Join(", ", candidates.Skip(1).Select(c => $"'{c}'"))})" : "") +
                        $", which {model.Config.Architecture} with this config.json needs.");
                var reader = located[key];
                var entry = reader.Entries[key];
                if (!entry.Shape.SequenceEqual(target.shape))
                    throw new ModelFormatException(
                        $"Tensor '{key}' in '{reader.Path}' has shape [{string.Join(", ", entry.Shape)}], but config.json implies [{string.Join(", ", target.shape)}].");
                using (var loaded = reader.Read(key)) target.copy_(loaded);
                used.Add(key);
            }
            var unexpected = located.Keys.Where(k => !used.Contains(k) && !model.IsIgnoredCheckpointKey(k)).Order(StringComparer.Ordinal).ToList();
            if (unexpected.Count > 0)
                throw new ModelFormatException(
                    $"Checkpoint '{folder}' has {unexpected.Count} tensor(s) that {model.Config.Architecture} with this config.json does not use " +
                    $"(does config.json match the weights?): {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}.");
        }
        finally
        {
            foreach (var reader in readers.Values) reader.Dispose();
        }
    }

    /// <summary>Maps every tensor key in the folder's weights to the open file that holds it.</summary>
    static Dictionary<string, Safetensors.Reader> LocateTensors(string folder, Dictionary<string, Safetensors.Reader> readers)
    {
        Safetensors.Reader Open(string file) =>
            readers.TryGetValue(file, out var r) ? r : readers[file] = new Safetensors.Reader(Path.Combine(folder, file));

        var located = new Dictionary<string, Safetensors.Reader>(StringComparer.Ordinal);
        var indexPath = Path.Combine(folder, IndexFile);
        if (File.Exists(indexPath))
        {
            var weightMap = ReadJsonObject(indexPath)["weight_map"] as JsonObject
                ?? throw new ModelFormatException($"'{indexPath}' has no 'weight_map' object.");
            foreach (var (key, file) in weightMap)
            {
                var shard = file?.GetValue<string>() ?? throw new ModelFormatException($"'{indexPath}' maps '{key}' to no file.");
                if (!File.Exists(Path.Combine(folder, shard)))
                    throw new ModelFormatException($"'{indexPath}' maps '{key}' to '{shard}', which is not in the folder.");
                var reader = Open(shard);
                located[key] = reader.Entries.ContainsKey(key) ? reader
                    : throw new ModelFormatException($"'{indexPath}' maps '{key}' to '{shard}', which has no such tensor.");
            }
        }
        else if (File.Exists(Path.Combine(folder, WeightsFile)))
        {
            var reader = Open(WeightsFile);
            foreach (var key in reader.Entries.Keys) located[key] = reader;
        }
        else
        {
            var hint = Directory.EnumerateFiles(folder, "pytorch_model*.bin").Any()
                ? " It has pytorch_model.bin weights; only safetensors are read (convert with transformers' save_pretrained(safe_serialization=True))."
                : "";
            throw new ModelFormatException($"No {WeightsFile} or {IndexFile} in '{folder}'.{hint}");
        }
        return located;
    }

    /// <summary>
    /// Writes <paramref name="model"/> as an HF folder. Other files of the source folder are copied
    /// first (stale weight files excluded), then config, generation config and weights.
    /// </summary>
    public static void Save(CausalLM model, string folder, HfSaveOptions? options = null)
    {
        options ??= new HfSaveOptions();
        var target = Path.GetFullPath(folder);
        Directory.CreateDirectory(target);
        var source = options.CopyFilesFrom ?? model.SourceFolder;
        if (source is not null && Directory.Exists(source) && !SameFolder(source, target)) CopyOtherFiles(source, target);
        foreach (var stale in Directory.EnumerateFiles(target).Where(f => IsOwnWeightFile(Path.GetFileName(f)))) File.Delete(stale);

        var config = model.Config.ToJson();
        var dtypeName = options.DType switch { SafetensorsDType.BF16 => "bfloat16", SafetensorsDType.F16 => "float16", _ => "float32" };
        config["torch_dtype"] = dtypeName;
        if (config.ContainsKey("dtype")) config["dtype"] = dtypeName; // newer transformers' spelling
        WriteJson(Path.Combine(target, ConfigFile), config);
        if (model.GenerationConfig is not null) WriteJson(Path.Combine(target, GenerationConfigFile), model.GenerationConfig);

        var tensors = model.state_dict().OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long shardBytes = 0, totalBytes = 0;
        foreach (var pair in tensors)
        {
            var size = Safetensors.ByteSize(pair.Value, options.DType);
            if (shards[^1].Count > 0 && shardBytes + size > options.MaxShardBytes) { shards.Add([]); shardBytes = 0; }
            shards[^1].Add(pair);
            shardBytes += size;
            totalBytes += size;
        }
        if (shards.Count == 1)
        {
            Safetensors.Save(Path.Combine(target, WeightsFile), shards[0], options.DType);
        }
        else
        {
            var weightMap = new JsonObject();
            for (var i = 0; i < shards.Count; i++)
            {
                var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                Safetensors.Save(Path.Combine(target, name), shards[i], options.DType);
                foreach (var (key, _) in shards[i]) weightMap[key] = name;
            }
            var index = new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = totalBytes }, ["weight_map"] = weightMap };
            WriteJson(Path.Combine(target, IndexFile), index);
        }
        options.WriteExtraFiles?.Invoke(target);
    }

    // ---- files ----

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardName();

    static bool IsOwnWeightFile(string name) => name is WeightsFile or IndexFile || ShardName().IsMatch(name);

    /// <summary>Weights in any format are never copied: they would be stale next to the new ones.</summary>
    static bool IsWeightFile(string name) =>
        name.EndsWith(".safetensors", StringComparison.Ordinal)
        || name.EndsWith(".safetensors.index.json", StringComparison.Ordinal)
        || (name.StartsWith("pytorch_model", StringComparison.Ordinal) && (name.EndsWith(".bin", StringComparison.Ordinal) || name.EndsWith(".bin.index.json", StringComparison.Ordinal)))
        || new[] { ".pth", ".pt", ".ckpt", ".h5", ".msgpack", ".gguf", ".onnx" }.Any(ext => name.EndsWith(ext, StringComparison.Ordinal));

    /// <summary>Copies tokenizer files, README and the like; hidden entries (.git, .cache) stay behind.</summary>
    static void CopyOtherFiles(string source, string target)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(source, file);
            var name = Path.GetFileName(file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'))) continue;
            if (name is ConfigFile or GenerationConfigFile || IsWeightFile(name)) continue;
            var destination = Path.Combine(target, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(file, destination, overwrite: true);
        }
    }

    static bool SameFolder(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);

    static JsonObject ReadJsonObject(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    static void WriteJson(string path, JsonObject json)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, json.ToJsonString(JsonWriteOptions) + "\n");
        File.Move(temporary, path, overwrite: true);
    }
}
