using System.Text.Json.Nodes;
using TorchSharp;
using Assistant.Tokenization;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// Token ids of the starter models' vocabulary: the ids of <see cref="ByteTokenizer"/> (ids 0..255 are
/// the bytes themselves, then its control tokens), which stays their one source of truth.
/// </summary>
public static class StarterVocabulary
{
    public const int ByteCount = ByteTokenizer.FirstControlId;
    /// <summary><c>&lt;|bos|&gt;</c></summary>
    public const int Bos = ByteTokenizer.BosId;
    /// <summary><c>&lt;|endoftext|&gt;</c></summary>
    public const int Eos = ByteTokenizer.EosId;
    /// <summary><c>&lt;|pad|&gt;</c></summary>
    public const int Pad = ByteTokenizer.PadId;
    /// <summary><c>&lt;|im_start|&gt;</c>: a chat turn begins.</summary>
    public const int ImStart = ByteTokenizer.ImStartId;
    /// <summary><c>&lt;|im_end|&gt;</c>: a chat turn ends; generation stops here too.</summary>
    public const int ImEnd = ByteTokenizer.ImEndId;
    /// <summary>The model's vocabulary size: the tokenizer's ids rounded up to a multiple of 8 for faster matmuls (264; the rest are never produced by the tokenizer).</summary>
    public const int Size = (ByteTokenizer.VocabularySize + 7) / 8 * 8;
}

/// <summary>
/// Built-in starter models that a machine with no downloaded weights can pretrain (job method
/// <c>pretrain</c>): a normal HF folder with deterministic random init, same seed -> same bytes.
/// </summary>
public static class ModelPresets
{
    /// <summary>Architecture -> preset -> config.json. tiny: d=256, 4 layers (~3M params); small: d=384, 6 layers (~10M).</summary>
    static readonly Dictionary<string, Dictionary<string, Func<JsonObject>>> Presets = new(StringComparer.Ordinal)
    {
        ["llama"] = new(StringComparer.Ordinal)
        {
            ["tiny"] = () => Llama(hidden: 256, intermediate: 688, layers: 4, heads: 4, kvHeads: 2, context: 512),
            ["small"] = () => Llama(hidden: 384, intermediate: 1024, layers: 6, heads: 6, kvHeads: 2, context: 1024),
        },
        ["gpt2"] = new(StringComparer.Ordinal)
        {
            ["tiny"] = () => Gpt2(hidden: 256, layers: 4, heads: 4, context: 512),
            ["small"] = () => Gpt2(hidden: 384, layers: 6, heads: 6, context: 1024),
        },
    };

    public static IReadOnlyList<string> Architectures => Presets.Keys.ToList();
    public static IReadOnlyList<string> PresetNames(string architecture) => Known(architecture).Keys.ToList();

    /// <summary>The config of a preset, as it will be written to config.json.</summary>
    public static ModelConfig Config(string architecture, string preset)
    {
        var presets = Known(architecture);
        return presets.TryGetValue(preset, out var make)
            ? ModelConfig.Parse(make())
            : throw new ArgumentException($"No preset '{preset}' for {architecture}; available: {string.Join(", ", presets.Keys)}.", nameof(preset));
    }

    /// <summary>A freshly initialised starter model in memory (eval mode).</summary>
    public static CausalLM Build(string architecture, string preset, long seed)
    {
        var model = HfCheckpoint.CreateUntrained(Config(architecture, preset));
        using (var generator = new torch.Generator(unchecked((ulong)seed)))
            model.InitializeWeights(generator);
        model.GenerationConfig = new JsonObject
        {
            ["bos_token_id"] = StarterVocabulary.Bos,
            ["eos_token_id"] = new JsonArray(StarterVocabulary.Eos, StarterVocabulary.ImEnd),
            ["pad_token_id"] = StarterVocabulary.Pad,
        };
        model.eval();
        return model;
    }

    /// <summary>
    /// Writes a starter model to <paramref name="folder"/> (config.json, generation_config.json,
    /// model.safetensors) with its tokenizer files: by default the byte tokenizer's, with a ChatML
    /// chat template (<see cref="ByteTokenizerFiles.Write"/>), so the folder describes itself;
    /// <paramref name="writeTokenizerFiles"/> replaces that. Returns the full path.
    /// </summary>
    public static string Create(string architecture, string preset, long seed, string folder, Action<string>? writeTokenizerFiles = null)
    {
        using var model = Build(architecture, preset, seed);
        HfCheckpoint.Save(model, folder, new HfSaveOptions { WriteExtraFiles = writeTokenizerFiles ?? ByteTokenizerFiles.Write });
        return Path.GetFullPath(folder);
    }

    static Dictionary<string, Func<JsonObject>> Known(string architecture) =>
        Presets.TryGetValue(architecture, out var presets) ? presets
            : throw new ArgumentException($"No starter presets for architecture '{architecture}'; available: {string.Join(", ", Presets.Keys)}.", nameof(architecture));

    static JsonObject Llama(int hidden, int intermediate, int layers, int heads, int kvHeads, int context) => new()
    {
        ["architectures"] = new JsonArray("LlamaForCausalLM"),
        ["model_type"] = "llama",
        ["vocab_size"] = StarterVocabulary.Size,
        ["hidden_size"] = hidden,
        ["intermediate_size"] = intermediate,
        ["num_hidden_layers"] = layers,
        ["num_attention_heads"] = heads,
        ["num_key_value_heads"] = kvHeads,
        ["max_position_embeddings"] = context,
        ["hidden_act"] = "silu",
        ["rms_norm_eps"] = 1e-5,
        ["rope_theta"] = 10000.0,
        ["attention_bias"] = false,
        ["mlp_bias"] = false,
        ["tie_word_embeddings"] = true,
        ["initializer_range"] = 0.02,
        ["bos_token_id"] = StarterVocabulary.Bos,
        ["eos_token_id"] = StarterVocabulary.Eos,
        ["pad_token_id"] = StarterVocabulary.Pad,
        ["torch_dtype"] = "float32",
    };

    // Dropout off: short pretraining runs on small data learn faster without it (as in nanoGPT).
    static JsonObject Gpt2(int hidden, int layers, int heads, int context) => new()
    {
        ["architectures"] = new JsonArray("GPT2LMHeadModel"),
        ["model_type"] = "gpt2",
        ["vocab_size"] = StarterVocabulary.Size,
        ["n_embd"] = hidden,
        ["n_layer"] = layers,
        ["n_head"] = heads,
        ["n_positions"] = context,
        ["n_inner"] = null,
        ["activation_function"] = "gelu_new",
        ["layer_norm_epsilon"] = 1e-5,
        ["embd_pdrop"] = 0.0,
        ["attn_pdrop"] = 0.0,
        ["resid_pdrop"] = 0.0,
        ["tie_word_embeddings"] = true,
        ["initializer_range"] = 0.02,
        ["bos_token_id"] = StarterVocabulary.Bos,
        ["eos_token_id"] = StarterVocabulary.Eos,
        ["pad_token_id"] = StarterVocabulary.Pad,
        ["torch_dtype"] = "float32",
    };
}
