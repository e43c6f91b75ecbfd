using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// A decoder-only language model of any family: generation, training and checkpoint code talk to
/// this and never to a family. Parameter names equal the HF checkpoint keys.
/// </summary>
public abstract class CausalLM : nn.Module<Tensor, Tensor>
{
    protected CausalLM(string name) : base(name) { }

    public abstract ModelConfig Config { get; }

    /// <summary><c>generation_config.json</c> as read, written back on save (null when absent).</summary>
    public JsonObject? GenerationConfig { get; set; }

    /// <summary>The folder this model was loaded from; its other files (tokenizer...) are copied on save.</summary>
    public string? SourceFolder { get; set; }

    /// <summary>Logits [batch, tokens, vocab] for a batch without padding, positions 0..T-1, no cache.</summary>
    public override Tensor forward(Tensor inputIds) => forward(inputIds, null, null);

    /// <summary>
    /// Logits [batch, tokens, vocab] (or [batch, 1, vocab] with <paramref name="lastTokenOnly"/>).
    /// </summary>
    /// <param name="inputIds">[batch, tokens] int64.</param>
    /// <param name="positions">[batch, tokens] int64 position of each token in its own sequence;
    /// null = cache length + 0..T-1 for every row. Left-padded rows need their own positions.</param>
    /// <param name="cache">Prefill or decode into this cache; it advances by the chunk length.</param>
    /// <param name="attentionMask">[batch, tokens] 1 = token, 0 = padding, or null when there is none; or, without a
    /// cache, [batch, tokens, tokens] bool (true = query may see key) for packed rows with cross-example attention blocked.</param>
    public Tensor forward(Tensor inputIds, Tensor? positions, KvCache? cache, Tensor? attentionMask = null, bool lastTokenOnly = false)
    {
        var context = new AttentionContext(inputIds, cache, attentionMask);
        var hidden = ForwardHidden(inputIds, positions ?? context.DefaultPositions, context);
        context.Finish((int)inputIds.shape[1]);
        if (lastTokenOnly) hidden = hidden.narrow(1, hidden.shape[1] - 1, 1);
        return Head(hidden);
    }

    /// <summary>Final hidden states, after the last norm.</summary>
    private protected abstract Tensor ForwardHidden(Tensor inputIds, Tensor positions, AttentionContext context);

    /// <summary>Hidden states to logits (the tied or separate LM head).</summary>
    private protected abstract Tensor Head(Tensor hidden);

    /// <summary>A cache for <paramref name="batchSize"/> sequences of up to <paramref name="maxLength"/> tokens.</summary>
    public KvCache CreateCache(int batchSize, int maxLength)
    {
        var weight = parameters().First();
        return new KvCache(Config.NumLayers, batchSize, Config.NumKeyValueHeads, maxLength, Config.HeadDim, weight.device, weight.dtype);
    }

    /// <summary>Deterministic HF-style init from <paramref name="generator"/> (the global RNG is untouched).</summary>
    public abstract void InitializeWeights(torch.Generator generator);

    // ---- checkpoint naming ----

    /// <summary>Other spellings of a parameter's key that checkpoints in the wild use.</summary>
    internal virtual IEnumerable<string> CheckpointAliases(string key) => [];

    /// <summary>Keys a checkpoint may carry that are not parameters (old buffers, a tied head).</summary>
    internal virtual bool IsIgnoredCheckpointKey(string key) => false;

    // ---- optimizer ----

    /// <summary>Embedding tables: 2-D but, like norms and biases, not weight-decayed.</summary>
    protected abstract bool IsEmbedding(string parameterName);

    /// <summary>Matrices of linear layers get weight decay; norms, biases and embeddings do not.</summary>
    public ParameterGroups GroupParametersForWeightDecay()
    {
        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        foreach (var (name, parameter) in named_parameters())
            (parameter.dim() >= 2 && !IsEmbedding(name) ? decay : noDecay).Add((name, parameter));
        return new ParameterGroups(decay, noDecay);
    }

    // ---- size and speed ----

    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Parameters only looked up, never multiplied (position tables, an untied input embedding).</summary>
    protected abstract long LookupOnlyParameterCount { get; }

    /// <summary>
    /// Training FLOPs per token at <paramref name="contextLength"/>: 6 per multiplied parameter
    /// (forward + backward) plus attention's 12 * layers * heads * head dim * context.
    /// </summary>
    public double FlopsPerToken(int contextLength) =>
        6.0 * (ParameterCount - LookupOnlyParameterCount)
        + 12.0 * Config.NumLayers * Config.NumHeads * Config.HeadDim * contextLength;

    /// <summary>Model FLOPs utilisation: achieved training FLOP/s over the device's peak.</summary>
    public double EstimateMfu(double tokensPerSecond, int contextLength, double peakFlopsPerSecond) =>
        FlopsPerToken(contextLength) * tokensPerSecond / peakFlopsPerSecond;

    // ---- helpers the families share ----

    private protected static void Normal(Tensor t, double std, torch.Generator generator)
    {
        using var _ = no_grad();
        t.normal_(0, std, generator); // not nn.init.normal_: TorchSharp 0.107 ignores its generator argument
    }

    private protected static void Constant(Tensor? t, double value)
    {
        if (t is null) return;
        using var _ = no_grad();
        t.fill_(value);
    }
}

/// <summary>Parameters split for AdamW: <see cref="Decay"/> gets weight decay, <see cref="NoDecay"/> none.</summary>
public sealed record ParameterGroups(
    IReadOnlyList<(string Name, Parameter Parameter)> Decay,
    IReadOnlyList<(string Name, Parameter Parameter)> NoDecay);

/// <summary>The decoder-block loop the families share.</summary>
internal static class CausalLMBlocks
{
    /// <summary>Runs each block in its own dispose scope: a layer's temporaries die with it (halves peak memory).</summary>
    public static Tensor Run<TBlock>(IEnumerable<TBlock> blocks, Tensor x, Func<TBlock, int, Tensor, Tensor> block)
    {
        var i = 0;
        foreach (var b in blocks)
        {
            using var scope = NewDisposeScope();
            x = block(b, i++, x).MoveToOuterDisposeScope();
        }
        return x;
    }
}
