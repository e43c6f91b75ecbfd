using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Assistant.Modeling;

// GPT-2 (GPT2LMHeadModel, DialoGPT) as Hugging Face computes it, top to bottom: config, Conv1D,
// attention, MLP, block, model, LM head, init. Weights keep HF's Conv1D layout [in, out].

/// <summary>GPT-2's <c>config.json</c>.</summary>
public sealed record Gpt2Config : ModelConfig
{
    public override string ModelType => "gpt2";
    public override string Architecture => "GPT2LMHeadModel";

    /// <summary><c>n_inner</c>: the MLP width, 4 * n_embd when null.</summary>
    public int? Inner { get; init; }
    public int InnerSize => Inner ?? 4 * HiddenSize;
    public double LayerNormEpsilon { get; init; } = 1e-5;
    /// <summary>gelu_new (tanh approximation, GPT-2's own), gelu_pytorch_tanh, gelu or relu.</summary>
    public string Activation { get; init; } = "gelu_new";
    public bool ScaleAttentionWeights { get; init; } = true;
    public bool ScaleAttentionByInverseLayerIndex { get; init; }
    public double EmbeddingDropout { get; init; } = 0.1;
    public double AttentionDropout { get; init; } = 0.1;
    public double ResidualDropout { get; init; } = 0.1;

    public override CausalLM CreateModel() => new Gpt2LMHeadModel(this);

    static readonly string[] SupportedActivations = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu"];

    public static Gpt2Config FromJson(JsonObject json)
    {
        var activation = OptionalString(json, "activation_function") ?? "gelu_new";
        if (!SupportedActivations.Contains(activation))
            throw new ModelFormatException($"config.json activation_function '{activation}' is not supported for gpt2; supported: {string.Join(", ", SupportedActivations)}.");
        return new Gpt2Config
        {
            Source = json,
            VocabSize = RequiredInt(json, "vocab_size"),
            HiddenSize = RequiredInt(json, "n_embd"),
            NumLayers = RequiredInt(json, "n_layer"),
            NumHeads = RequiredInt(json, "n_head"),
            MaxPositions = RequiredInt(json, "n_positions"),
            Inner = OptionalInt(json, "n_inner"),
            LayerNormEpsilon = OptionalDouble(json, "layer_norm_epsilon") ?? 1e-5,
            Activation = activation,
            ScaleAttentionWeights = OptionalBool(json, "scale_attn_weights") ?? true,
            ScaleAttentionByInverseLayerIndex = OptionalBool(json, "scale_attn_by_inverse_layer_idx") ?? false,
            EmbeddingDropout = OptionalDouble(json, "embd_pdrop") ?? 0.1,
            AttentionDropout = OptionalDouble(json, "attn_pdrop") ?? 0.1,
            ResidualDropout = OptionalDouble(json, "resid_pdrop") ?? 0.1,
            TieWordEmbeddings = OptionalBool(json, "tie_word_embeddings") ?? true,
            InitializerRange = OptionalDouble(json, "initializer_range") ?? 0.02,
            BosTokenId = OptionalInt(json, "bos_token_id"),
            EosTokenIds = IntOrList(json, "eos_token_id"),
            PadTokenId = OptionalInt(json, "pad_token_id"),
        };
    }

    protected override void WriteFamilyKeys(JsonObject json)
    {
        Put(json, "n_embd", HiddenSize);
        Put(json, "n_layer", NumLayers);
        Put(json, "n_head", NumHeads);
        Put(json, "n_positions", MaxPositions);
        if (Inner is not null || json.ContainsKey("n_inner")) Put(json, "n_inner", Inner is int inner ? JsonValue.Create(inner) : null);
        Put(json, "layer_norm_epsilon", LayerNormEpsilon);
        Put(json, "activation_function", Activation);
        Put(json, "scale_attn_weights", ScaleAttentionWeights);
        Put(json, "scale_attn_by_inverse_layer_idx", ScaleAttentionByInverseLayerIndex);
        Put(json, "embd_pdrop", EmbeddingDropout);
        Put(json, "attn_pdrop", AttentionDropout);
        Put(json, "resid_pdrop", ResidualDropout);
    }
}

/// <summary>GPT-2's "Conv1D": a linear layer whose weight is stored [in, out], y = x W + b.</summary>
public sealed class Gpt2Conv1D : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight, bias;

    public Gpt2Conv1D(long inputs, long outputs) : base(nameof(Gpt2Conv1D))
    {
        weight = nn.Parameter(empty(inputs, outputs));
        bias = nn.Parameter(zeros(outputs));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var shape = x.shape.ToArray();
        shape[^1] = weight.shape[1];
        return addmm(bias, x.reshape(-1, x.shape[^1]), weight, 1, 1).view(shape);
    }
}

/// <summary>Causal self-attention with one fused q/k/v projection.</summary>
public sealed class Gpt2Attention : nn.Module
{
    readonly Gpt2Conv1D c_attn, c_proj;
    readonly int heads, headDim, layer;
    readonly Gpt2Config config;

    public Gpt2Attention(Gpt2Config c, int layer) : base(nameof(Gpt2Attention))
    {
        (config, heads, headDim, this.layer) = (c, c.NumHeads, c.HeadDim, layer);
        c_attn = new Gpt2Conv1D(c.HiddenSize, 3 * c.HiddenSize);
        c_proj = new Gpt2Conv1D(c.HiddenSize, c.HiddenSize);
        RegisterComponents();
    }

    internal Tensor forward(Tensor x, AttentionContext context)
    {
        var (batch, tokens, width) = (x.shape[0], x.shape[1], x.shape[2]);
        // Projections go through call(), not forward(): it runs forward hooks, where LoRA adapters attach.
        var qkv = c_attn.call(x).split(width, dim: 2);
        var (q, k, v) = (Heads(qkv[0]), Heads(qkv[1]), Heads(qkv[2]));
        // SDPA always divides by sqrt(head dim); GPT-2's variants rescale q to get their own scale.
        if (!config.ScaleAttentionWeights) q = q * Math.Sqrt(headDim);
        if (config.ScaleAttentionByInverseLayerIndex) q = q / (layer + 1);
        var y = context.Attend(layer, q, k, v, training ? config.AttentionDropout : 0.0);
        var output = c_proj.call(y.transpose(1, 2).reshape(batch, tokens, width));
        return nn.functional.dropout(output, config.ResidualDropout, training);

        Tensor Heads(Tensor t) => t.view(batch, tokens, heads, headDim).transpose(1, 2);
    }
}

/// <summary>Feed-forward: c_proj(act(c_fc(x))).</summary>
public sealed class Gpt2Mlp : nn.Module<Tensor, Tensor>
{
    readonly Gpt2Conv1D c_fc, c_proj;
    readonly Gpt2Config config;

    public Gpt2Mlp(Gpt2Config c) : base(nameof(Gpt2Mlp))
    {
        config = c;
        c_fc = new Gpt2Conv1D(c.HiddenSize, c.InnerSize);
        c_proj = new Gpt2Conv1D(c.InnerSize, c.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = c_fc.call(x);
        h = config.Activation switch
        {
            "gelu" => nn.functional.gelu(h),
            "relu" => nn.functional.relu(h),
            _ => nn.functional.gelu(h, GELU.Approximate.tanh), // gelu_new == tanh-approximate GELU
        };
        return nn.functional.dropout(c_proj.call(h), config.ResidualDropout, training);
    }
}

/// <summary>Pre-norm block: x + attn(ln_1(x)), then + mlp(ln_2(x)).</summary>
public sealed class Gpt2Block : nn.Module
{
    readonly LayerNorm ln_1, ln_2;
    readonly Gpt2Attention attn;
    readonly Gpt2Mlp mlp;

    public Gpt2Block(Gpt2Config c, int layer) : base(nameof(Gpt2Block))
    {
        ln_1 = nn.LayerNorm(c.HiddenSize, c.LayerNormEpsilon);
        attn = new Gpt2Attention(c, layer);
        ln_2 = nn.LayerNorm(c.HiddenSize, c.LayerNormEpsilon);
        mlp = new Gpt2Mlp(c);
        RegisterComponents();
    }

    internal Tensor forward(Tensor x, AttentionContext context)
    {
        var h = x + attn.forward(ln_1.forward(x), context);
        return h + mlp.forward(ln_2.forward(h));
    }
}

/// <summary>Token and learned position embeddings, the blocks and the final norm (HF's <c>transformer.</c> prefix).</summary>
public sealed class Gpt2Model : nn.Module
{
    internal readonly Embedding wte, wpe;
    readonly ModuleList<Gpt2Block> h;
    readonly LayerNorm ln_f;
    readonly Gpt2Config config;

    public Gpt2Model(Gpt2Config c) : base(nameof(Gpt2Model))
    {
        config = c;
        wte = nn.Embedding(c.VocabSize, c.HiddenSize);
        wpe = nn.Embedding(c.MaxPositions, c.HiddenSize);
        h = new ModuleList<Gpt2Block>(Enumerable.Range(0, c.NumLayers).Select(i => new Gpt2Block(c, i)).ToArray());
        ln_f = nn.LayerNorm(c.HiddenSize, c.LayerNormEpsilon);
        RegisterComponents();
    }

    internal Tensor forward(Tensor inputIds, Tensor positions, AttentionContext context)
    {
        var x = wte.forward(inputIds) + wpe.forward(positions);
        x = nn.functional.dropout(x, config.EmbeddingDropout, training);
        x = CausalLMBlocks.Run(h, x, (block, _, hidden) => block.forward(hidden, context));
        return ln_f.forward(x);
    }
}

/// <summary>GPT2LMHeadModel: the transformer plus an LM head tied to wte (or separate when untied).</summary>
public sealed class Gpt2LMHeadModel : CausalLM
{
    const string Prefix = "transformer.";
    readonly Gpt2Config config;
    readonly Gpt2Model transformer;
    readonly Linear? lm_head; // null when tied, GPT-2's usual case

    public Gpt2LMHeadModel(Gpt2Config config) : base(nameof(Gpt2LMHeadModel))
    {
        this.config = config;
        transformer = new Gpt2Model(config);
        lm_head = config.TieWordEmbeddings ? null : nn.Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        RegisterComponents();
    }

    public override ModelConfig Config => config;

    private protected override Tensor ForwardHidden(Tensor inputIds, Tensor positions, AttentionContext context)
    {
        if (positions.numel() > 0 && positions.max().item<long>() >= config.MaxPositions)
            throw new ArgumentException($"Position {positions.max().item<long>()} is beyond GPT-2's n_positions {config.MaxPositions}.");
        return transformer.forward(inputIds, positions, context);
    }

    private protected override Tensor Head(Tensor hidden) =>
        lm_head?.forward(hidden) ?? nn.functional.linear(hidden, transformer.wte.weight!);

    /// <summary>
    /// HF's GPT-2 init: N(0, initializer_range) for matrices and embeddings, biases 0, LayerNorms 1,
    /// and residual projections (c_proj) scaled by 1/sqrt(2 * n_layer) so the residual stream does not grow with depth.
    /// </summary>
    public override void InitializeWeights(torch.Generator generator)
    {
        var residualStd = config.InitializerRange / Math.Sqrt(2.0 * config.NumLayers);
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.Contains(".ln_", StringComparison.Ordinal))
                Constant(parameter, name.EndsWith(".weight", StringComparison.Ordinal) ? 1.0 : 0.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) Constant(parameter, 0.0);
            else if (name.EndsWith("c_proj.weight", StringComparison.Ordinal)) Normal(parameter, residualStd, generator);
            else Normal(parameter, config.InitializerRange, generator);
        }
    }

    // The original GPT-2 files have no "transformer." prefix; GPT2LMHeadModel saves add it.
    internal override IEnumerable<string> CheckpointAliases(string key) =>
        key.StartsWith(Prefix, StringComparison.Ordinal) ? [key[Prefix.Length..]] : [];

    // attn.bias / attn.masked_bias are causal-mask buffers older transformers saved; lm_head.weight duplicates wte when tied.
    internal override bool IsIgnoredCheckpointKey(string key) =>
        key.EndsWith(".attn.bias", StringComparison.Ordinal)
        || key.EndsWith(".attn.masked_bias", StringComparison.Ordinal)
        || (config.TieWordEmbeddings && key == "lm_head.weight");

    protected override bool IsEmbedding(string parameterName) =>
        parameterName is "transformer.wte.weight" or "transformer.wpe.weight";

    protected override long LookupOnlyParameterCount =>
        (long)config.MaxPositions * config.HiddenSize
        + (config.TieWordEmbeddings ? 0 : (long)config.VocabSize * config.HiddenSize);
}
