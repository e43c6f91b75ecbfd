using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace Assistant.Modeling.Export;

/// <summary>
/// Writes a <see cref="LlamaForCausalLM"/> as a GGUF file llama.cpp runs as architecture <c>llama</c>:
/// its hyperparameters under <c>llama.*</c>, HF tensors renamed to llama.cpp's, and the Q/K projection
/// rows permuted from HF's rotate-half rotary layout to llama.cpp's interleaved pairs.
/// </summary>
public static partial class LlamaGguf
{
    /// <summary>Writes <paramref name="model"/> with <paramref name="vocabulary"/> to <paramref name="path"/>.</summary>
    /// <param name="weightType">Type of the matrices; norms, biases and rotary factors stay F32, as llama.cpp's converter writes them.</param>
    /// <param name="name"><c>general.name</c>.</param>
    public static void Write(CausalLM model, GgufVocabulary vocabulary, string path, GgmlType weightType = GgmlType.F32, string name = "model")
    {
        if (model.Config is not LlamaConfig config)
            throw new ModelFormatException(
                $"GGUF export supports only llama models (LlamaForCausalLM); this model has model_type '{model.Config.ModelType}'.");
        if (vocabulary.Tokens.Count != config.VocabSize)
            throw new ArgumentException($"The vocabulary has {vocabulary.Tokens.Count} tokens but the model's vocab_size is {config.VocabSize}.", nameof(vocabulary));

        var gguf = new GgufWriter();
        gguf.AddString("general.architecture", "llama");
        gguf.AddString("general.name", name);
        gguf.AddUInt32("general.file_type", weightType switch { GgmlType.F32 => 0, GgmlType.F16 => 1, _ => 32 }); // llama_ftype ALL_F32, MOSTLY_F16, MOSTLY_BF16
        gguf.AddUInt32("llama.context_length", (uint)config.MaxPositions);
        gguf.AddUInt32("llama.embedding_length", (uint)config.HiddenSize);
        gguf.AddUInt32("llama.block_count", (uint)config.NumLayers);
        gguf.AddUInt32("llama.feed_forward_length", (uint)config.IntermediateSize);
        gguf.AddUInt32("llama.attention.head_count", (uint)config.NumHeads);
        gguf.AddUInt32("llama.attention.head_count_kv", (uint)config.NumKeyValueHeads);
        gguf.AddUInt32("llama.attention.key_length", (uint)config.HeadDim);
        gguf.AddUInt32("llama.attention.value_length", (uint)config.HeadDim);
        gguf.AddFloat32("llama.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        gguf.AddFloat32("llama.rope.freq_base", (float)config.RopeTheta);
        gguf.AddUInt32("llama.rope.dimension_count", (uint)config.HeadDim);
        gguf.AddUInt32("llama.vocab_size", (uint)config.VocabSize);
        var ropeFactors = RopeScaling(config, gguf);
        vocabulary.WriteTo(gguf);

        if (ropeFactors is not null)
            gguf.AddTensor("rope_freqs.weight", [ropeFactors.Length], GgmlType.F32, () => tensor(ropeFactors));
        var state = model.state_dict();
        foreach (var (key, value) in state.OrderBy(p => SortKey(p.Key)))
        {
            var (ggufName, heads) = GgufName(key, config);
            var type = value.dim() >= 2 ? weightType : GgmlType.F32;
            gguf.AddTensor(ggufName, value.shape, type, heads is int h ? () => PermuteForInterleavedRope(value, h) : () => value);
        }
        gguf.WriteTo(path);
    }

    /// <summary>
    /// HF rotates each head's halves (i, i + d/2); llama.cpp's NORM rope rotates adjacent pairs (2i, 2i + 1).
    /// Reordering the rows of q_proj/k_proj (and their biases) head by head gives the same attention.
    /// </summary>
    static Tensor PermuteForInterleavedRope(Tensor weight, int heads)
    {
        var rows = weight.shape[0];
        var rest = weight.shape.Skip(1).ToArray();
        return weight.reshape([heads, 2, rows / heads / 2, .. rest]).transpose(1, 2).reshape(weight.shape);
    }

    /// <summary>llama.cpp's rope scaling keys; for Llama 3.1 scaling, the per-frequency divisors for <c>rope_freqs</c>.</summary>
    static float[]? RopeScaling(LlamaConfig config, GgufWriter gguf)
    {
        var scaling = config.RopeScaling;
        var type = scaling?["rope_type"]?.GetValue<string>() ?? scaling?["type"]?.GetValue<string>() ?? "default";
        switch (type)
        {
            case "default":
                return null;
            case "linear":
                gguf.AddString("llama.rope.scaling.type", "linear");
                gguf.AddFloat32("llama.rope.scaling.factor", (float)scaling!["factor"]!.GetValue<double>());
                return null;
            case "llama3":
                // llama.cpp divides each rotary frequency by its factor: factor = unscaled / scaled frequency.
                var unscaled = LlamaRotaryEmbedding.InverseFrequencies(config with { RopeScaling = null });
                var scaled = LlamaRotaryEmbedding.InverseFrequencies(config);
                return unscaled.Zip(scaled, (u, s) => u / s).ToArray();
            default:
                throw new ModelFormatException($"GGUF export does not support rope_scaling type '{type}'; supported: default, linear, llama3.");
        }
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.(.+)$")]
    private static partial Regex LayerKey();

    /// <summary>llama.cpp's tensor name for an HF key, and the head count when its rows need the rope permutation.</summary>
    static (string Name, int? PermuteHeads) GgufName(string key, LlamaConfig config)
    {
        switch (key)
        {
            case "model.embed_tokens.weight": return ("token_embd.weight", null);
            case "model.norm.weight": return ("output_norm.weight", null);
            case "lm_head.weight": return ("output.weight", null);
        }
        var match = LayerKey().Match(key);
        if (match.Success)
        {
            var block = "blk." + match.Groups[1].Value + ".";
            var rest = match.Groups[2].Value;
            var suffix = rest[(rest.LastIndexOf('.') + 1)..]; // weight or bias
            (string Name, int? Heads)? mapped = rest[..rest.LastIndexOf('.')] switch
            {
                "input_layernorm" => ("attn_norm", null),
                "self_attn.q_proj" => ("attn_q", config.NumHeads),
                "self_attn.k_proj" => ("attn_k", config.NumKeyValueHeads),
                "self_attn.v_proj" => ("attn_v", null),
                "self_attn.o_proj" => ("attn_output", null),
                "post_attention_layernorm" => ("ffn_norm", null),
                "mlp.gate_proj" => ("ffn_gate", null),
                "mlp.up_proj" => ("ffn_up", null),
                "mlp.down_proj" => ("ffn_down", null),
                _ => null,
            };
            if (mapped is var (name, heads)) return (block + name + "." + suffix, heads);
        }
        throw new ModelFormatException($"Tensor '{key}' has no GGUF counterpart for architecture llama.");
    }

    /// <summary>The converter's order: embedding, blocks in numeric order, final norm, head.</summary>
    static (int, int, string) SortKey(string key)
    {
        if (key == "model.embed_tokens.weight") return (0, 0, key);
        var match = LayerKey().Match(key);
        return match.Success ? (1, int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), key) : (2, 0, key);
    }
}
