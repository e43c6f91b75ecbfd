using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Assistant.Modeling;

// Llama (LlamaForCausalLM: Llama 2/3, TinyLlama, SmolLM) as Hugging Face computes it, top to bottom:
// config, RMSNorm, rotary embedding, attention, MLP, decoder layer, model, LM head, init.

/// <summary>Llama's <c>config.json</c>.</summary>
public sealed record LlamaConfig : ModelConfig
{
    public override string ModelType => "llama";
    public override string Architecture => "LlamaForCausalLM";

    public required int IntermediateSize { get; init; }
    public int? KeyValueHeads { get; init; }
    public override int NumKeyValueHeads => KeyValueHeads ?? NumHeads;
    /// <summary>Set when the checkpoint's head size is not hidden_size / heads.</summary>
    public int? ExplicitHeadDim { get; init; }
    public override int HeadDim => ExplicitHeadDim ?? HiddenSize / NumHeads;
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    /// <summary>HF's <c>rope_scaling</c> object as written (<c>rope_type</c> default, linear or llama3), or null.</summary>
    public JsonObject? RopeScaling { get; init; }
    public bool AttentionBias { get; init; }
    public bool MlpBias { get; init; }
    public double AttentionDropout { get; init; }

    public override CausalLM CreateModel() => new LlamaForCausalLM(this);

    public static LlamaConfig FromJson(JsonObject json)
    {
        var activation = OptionalString(json, "hidden_act") ?? "silu";
        if (activation != "silu")
            throw new ModelFormatException($"config.json hidden_act '{activation}' is not supported for llama; supported: silu.");
        var config = new LlamaConfig
        {
            Source = json,
            VocabSize = RequiredInt(json, "vocab_size"),
            HiddenSize = RequiredInt(json, "hidden_size"),
            NumLayers = RequiredInt(json, "num_hidden_layers"),
            NumHeads = RequiredInt(json, "num_attention_heads"),
            KeyValueHeads = OptionalInt(json, "num_key_value_heads"),
            ExplicitHeadDim = OptionalInt(json, "head_dim"),
            IntermediateSize = RequiredInt(json, "intermediate_size"),
            MaxPositions = OptionalInt(json, "max_position_embeddings") ?? 2048,
            RmsNormEps = OptionalDouble(json, "rms_norm_eps") ?? 1e-6,
            RopeTheta = OptionalDouble(json, "rope_theta") ?? 10000.0,
            RopeScaling = json["rope_scaling"] as JsonObject,
            AttentionBias = OptionalBool(json, "attention_bias") ?? false,
            MlpBias = OptionalBool(json, "mlp_bias") ?? false,
            AttentionDropout = OptionalDouble(json, "attention_dropout") ?? 0.0,
            TieWordEmbeddings = OptionalBool(json, "tie_word_embeddings") ?? false,
            InitializerRange = OptionalDouble(json, "initializer_range") ?? 0.02,
            BosTokenId = OptionalInt(json, "bos_token_id"),
            EosTokenIds = IntOrList(json, "eos_token_id"),
            PadTokenId = OptionalInt(json, "pad_token_id"),
        };
        if (config.NumHeads % config.NumKeyValueHeads != 0)
            throw new ModelFormatException($"config.json num_attention_heads {config.NumHeads} is not a multiple of num_key_value_heads {config.NumKeyValueHeads}.");
        LlamaRotaryEmbedding.InverseFrequencies(config); // reject an unsupported rope_scaling at load, not at first forward
        return config;
    }

    protected override void WriteFamilyKeys(JsonObject json)
    {
        Put(json, "hidden_size", HiddenSize);
        Put(json, "num_hidden_layers", NumLayers);
        Put(json, "num_attention_heads", NumHeads);
        Put(json, "num_key_value_heads", NumKeyValueHeads);
        if (ExplicitHeadDim is int headDim) Put(json, "head_dim", headDim);
        Put(json, "intermediate_size", IntermediateSize);
        Put(json, "max_position_embeddings", MaxPositions);
        Put(json, "rms_norm_eps", RmsNormEps);
        Put(json, "rope_theta", RopeTheta);
        if (RopeScaling is not null || json.ContainsKey("rope_scaling")) Put(json, "rope_scaling", RopeScaling?.DeepClone());
        Put(json, "attention_bias", AttentionBias);
        Put(json, "mlp_bias", MlpBias);
        if (!json.ContainsKey("hidden_act")) json["hidden_act"] = "silu";
    }
}

/// <summary>RMSNorm: x / sqrt(mean(x^2) + eps) * weight, computed in fp32 like HF.</summary>
public sealed class LlamaRmsNorm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly double eps;

    public LlamaRmsNorm(long size, double eps) : base(nameof(LlamaRmsNorm))
    {
        weight = nn.Parameter(ones(size));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var x32 = x.to(ScalarType.Float32);
        var normed = x32 * (x32.pow(2).mean([-1], keepdim: true) + eps).rsqrt();
        return weight * normed.to(x.dtype);
    }
}

/// <summary>Rotary position embedding: cos/sin of position * inverse frequency, per row's own positions.</summary>
public sealed class LlamaRotaryEmbedding : nn.Module
{
    readonly Tensor inv_freq;

    public LlamaRotaryEmbedding(LlamaConfig config) : base(nameof(LlamaRotaryEmbedding))
    {
        inv_freq = tensor(InverseFrequencies(config));
        register_buffer("inv_freq", inv_freq, persistent: false); // derived from config, as in HF: not a checkpoint key
        RegisterComponents();
    }

    /// <summary>HF's inv_freq: 1 / theta^(2i/d) in fp32, then the <c>rope_scaling</c> adjustment.</summary>
    public static float[] InverseFrequencies(LlamaConfig config)
    {
        var dim = config.HeadDim;
        float[] inv;
        using (NewDisposeScope())
        {
            var exponent = arange(0, dim, 2, ScalarType.Int64).to(ScalarType.Float32) / dim;
            inv = (1.0f / full([dim / 2], (float)config.RopeTheta).pow(exponent)).data<float>().ToArray();
        }
        var scaling = config.RopeScaling;
        var type = scaling?["rope_type"]?.GetValue<string>() ?? scaling?["type"]?.GetValue<string>() ?? "default";
        double Key(string key) => scaling![key]?.GetValue<double>()
            ?? throw new ModelFormatException($"config.json rope_scaling ({type}) is missing '{key}'.");
        switch (type)
        {
            case "default":
                return inv;
            case "linear":
                var linearFactor = Key("factor");
                return inv.Select(f => (float)(f / linearFactor)).ToArray();
            case "llama3":
                // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
                var (factor, low, high, original) = (Key("factor"), Key("low_freq_factor"), Key("high_freq_factor"), Key("original_max_position_embeddings"));
                var (lowFreqWavelen, highFreqWavelen) = (original / low, original / high);
                return inv.Select(f =>
                {
                    var wavelen = 2 * Math.PI / f;
                    if (wavelen < highFreqWavelen) return f;
                    if (wavelen > lowFreqWavelen) return (float)(f / factor);
                    var smooth = (original / wavelen - low) / (high - low);
                    return (float)((1 - smooth) * f / factor + smooth * f);
                }).ToArray();
            default:
                throw new ModelFormatException($"config.json rope_scaling type '{type}' is not supported; supported: default, linear, llama3.");
        }
    }

    /// <summary>cos and sin [batch, tokens, head dim] for positions [batch, tokens].</summary>
    public (Tensor Cos, Tensor Sin) forward(Tensor positions)
    {
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inv_freq.to(positions.device);
        var angles = cat([freqs, freqs], -1);
        return (angles.cos(), angles.sin());
    }

    /// <summary>HF's rotate_half convention: the head's two halves form the (real, imaginary) pairs.</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var half = x.shape[^1] / 2;
        var rotated = cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        return x * cos.to(x.dtype) + rotated * sin.to(x.dtype);
    }

    /// <summary>
    /// The tables <see cref="ApplyRolled"/> takes, built once per forward for all layers: cos, and sin with
    /// its first half negated, both [batch, 1, tokens, head dim] (broadcast over heads) in <paramref name="dtype"/>.
    /// </summary>
    internal (Tensor Cos, Tensor SignedSin) RolledTables(Tensor positions, ScalarType dtype)
    {
        var freqs = positions.to(ScalarType.Float32).unsqueeze(-1) * inv_freq.to(positions.device);
        var (cos, sin) = (freqs.cos(), freqs.sin());
        return (cat([cos, cos], -1).unsqueeze(1).to(dtype), cat([-sin, sin], -1).unsqueeze(1).to(dtype));
    }

    /// <summary>
    /// <see cref="Apply"/> in three ops instead of nine (decoding is bound by per-op overhead):
    /// rotate_half(x) * sin == roll(x, d/2) * (sin with its first half negated).
    /// </summary>
    internal static Tensor ApplyRolled(Tensor x, Tensor cos, Tensor signedSin, long half) =>
        addcmul(x * cos, x.roll(half, -1), signedSin, 1);
}

/// <summary>Multi-head attention with grouped-query K/V heads and rotary positions.</summary>
public sealed class LlamaAttention : nn.Module
{
    readonly Linear q_proj, k_proj, v_proj, o_proj;
    readonly int heads, kvHeads, headDim;
    readonly double dropout;

    public LlamaAttention(LlamaConfig c) : base(nameof(LlamaAttention))
    {
        (heads, kvHeads, headDim, dropout) = (c.NumHeads, c.NumKeyValueHeads, c.HeadDim, c.AttentionDropout);
        q_proj = nn.Linear(c.HiddenSize, heads * headDim, hasBias: c.AttentionBias);
        k_proj = nn.Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.AttentionBias);
        v_proj = nn.Linear(c.HiddenSize, kvHeads * headDim, hasBias: c.AttentionBias);
        o_proj = nn.Linear(heads * headDim, c.HiddenSize, hasBias: c.AttentionBias);
        RegisterComponents();
    }

    /// <param name="cos">Rotary tables from <see cref="LlamaRotaryEmbedding.RolledTables"/>.</param>
    internal Tensor forward(Tensor x, Tensor cos, Tensor signedSin, AttentionContext context, int layer)
    {
        var (batch, tokens) = (x.shape[0], x.shape[1]);
        // Projections go through call(), not forward(): it runs forward hooks, where LoRA adapters attach.
        var q = q_proj.call(x).view(batch, tokens, heads, headDim).transpose(1, 2);
        var k = k_proj.call(x).view(batch, tokens, kvHeads, headDim).transpose(1, 2);
        var v = v_proj.call(x).view(batch, tokens, kvHeads, headDim).transpose(1, 2);
        q = LlamaRotaryEmbedding.ApplyRolled(q, cos, signedSin, headDim / 2);
        k = LlamaRotaryEmbedding.ApplyRolled(k, cos, signedSin, headDim / 2);
        var y = context.Attend(layer, q, k, v, training ? dropout : 0.0);
        return o_proj.call(y.transpose(1, 2).reshape(batch, tokens, heads * headDim));
    }
}

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear gate_proj, up_proj, down_proj;

    public LlamaMlp(LlamaConfig c) : base(nameof(LlamaMlp))
    {
        gate_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias);
        up_proj = nn.Linear(c.HiddenSize, c.IntermediateSize, hasBias: c.MlpBias);
        down_proj = nn.Linear(c.IntermediateSize, c.HiddenSize, hasBias: c.MlpBias);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) =>
        down_proj.call(nn.functional.silu(gate_proj.call(x)) * up_proj.call(x));
}

/// <summary>Pre-norm block: x + attn(norm(x)), then + mlp(norm(x)).</summary>
public sealed class LlamaDecoderLayer : nn.Module
{
    readonly LlamaAttention self_attn;
    readonly LlamaMlp mlp;
    readonly LlamaRmsNorm input_layernorm, post_attention_layernorm;

    public LlamaDecoderLayer(LlamaConfig c) : base(nameof(LlamaDecoderLayer))
    {
        self_attn = new LlamaAttention(c);
        mlp = new LlamaMlp(c);
        input_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps);
        post_attention_layernorm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps);
        RegisterComponents();
    }

    internal Tensor forward(Tensor x, Tensor cos, Tensor sin, AttentionContext context, int layer)
    {
        var h = x + self_attn.forward(input_layernorm.forward(x), cos, sin, context, layer);
        return h + mlp.forward(post_attention_layernorm.forward(h));
    }
}

/// <summary>Token embedding, the decoder layers and the final norm (HF's <c>model.</c> prefix).</summary>
public sealed class LlamaModel : nn.Module
{
    internal readonly Embedding embed_tokens;
    internal readonly ModuleList<LlamaDecoderLayer> layers;
    readonly LlamaRmsNorm norm;
    readonly LlamaRotaryEmbedding rotary_emb;

    public LlamaModel(LlamaConfig c) : base(nameof(LlamaModel))
    {
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize);
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, c.NumLayers).Select(_ => new LlamaDecoderLayer(c)).ToArray());
        norm = new LlamaRmsNorm(c.HiddenSize, c.RmsNormEps);
        rotary_emb = new LlamaRotaryEmbedding(c);
        RegisterComponents();
    }

    internal Tensor forward(Tensor inputIds, Tensor positions, AttentionContext context)
    {
        var x = embed_tokens.forward(inputIds);
        var (cos, signedSin) = rotary_emb.RolledTables(positions, x.dtype);
        x = CausalLMBlocks.Run(layers, x, (layer, i, h) => layer.forward(h, cos, signedSin, context, i));
        return norm.forward(x);
    }
}

/// <summary>LlamaForCausalLM: the model plus an LM head, separate or tied to the token embedding.</summary>
public sealed class LlamaForCausalLM : CausalLM
{
    readonly LlamaConfig config;
    readonly LlamaModel model;
    readonly Linear? lm_head; // null when tied: logits use model.embed_tokens.weight

    public LlamaForCausalLM(LlamaConfig config) : base(nameof(LlamaForCausalLM))
    {
        this.config = config;
        model = new LlamaModel(config);
        lm_head = config.TieWordEmbeddings ? null : nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public override ModelConfig Config => config;

    private protected override Tensor ForwardHidden(Tensor inputIds, Tensor positions, AttentionContext context) =>
        model.forward(inputIds, positions, context);

    private protected override Tensor Head(Tensor hidden) =>
        lm_head?.forward(hidden) ?? nn.functional.linear(hidden, model.embed_tokens.weight!);

    /// <summary>HF's Llama init: every matrix and embedding N(0, initializer_range), biases 0, norms 1.</summary>
    public override void InitializeWeights(torch.Generator generator)
    {
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) Constant(parameter, 1.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) Constant(parameter, 0.0);
            else Normal(parameter, config.InitializerRange, generator);
        }
    }

    // Old checkpoints saved the rotary inverse frequencies; HF recomputes them and so do we.
    internal override bool IsIgnoredCheckpointKey(string key) =>
        key.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
        || (config.TieWordEmbeddings && key == "lm_head.weight");

    protected override bool IsEmbedding(string parameterName) => parameterName == "model.embed_tokens.weight";

    protected override long LookupOnlyParameterCount =>
        config.TieWordEmbeddings ? 0 : (long)config.VocabSize * config.HiddenSize;
}
