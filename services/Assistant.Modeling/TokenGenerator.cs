using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>How to pick each next token (HF order: repetition penalty, temperature, top-k, top-p).</summary>
public sealed record SamplingOptions
{
    public int MaxNewTokens { get; init; } = 128;
    /// <summary>0 = greedy (argmax); otherwise logits are divided by it before sampling.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probability reaches p; 1 = off.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>HF's penalty for tokens already in the sequence (>1 discourages repeats); 1 = off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>Tokens that end a sequence; null = eos ids of generation_config.json, else of config.json.</summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }
    /// <summary>Seeds this request's own sampler: same seed, same prompt(s) -> same tokens.</summary>
    public long? Seed { get; init; }

    public static SamplingOptions Greedy(int maxNewTokens) => new() { Temperature = 0, MaxNewTokens = maxNewTokens };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException("MaxNewTokens must be >= 0.", "options");
        if (Temperature < 0) throw new ArgumentException("Temperature must be >= 0.", "options");
        if (TopK < 0) throw new ArgumentException("TopK must be >= 0.", "options");
        if (TopP is <= 0 or > 1) throw new ArgumentException("TopP must be in (0, 1].", "options");
        if (RepetitionPenalty <= 0) throw new ArgumentException("RepetitionPenalty must be > 0.", "options");
    }
}

public enum FinishReason { Stop, Length }

/// <summary>A token produced for sequence <paramref name="Sequence"/>; <paramref name="Finish"/> is set on its last one
/// (with <see cref="FinishReason.Stop"/> the token is the stop token itself).</summary>
public readonly record struct GeneratedToken(int Sequence, int TokenId, FinishReason? Finish);

/// <summary>Generated tokens without the stop token, and why generation ended.</summary>
public sealed record GenerationResult(IReadOnlyList<int> TokenIds, FinishReason FinishReason);

/// <summary>
/// Autoregressive generation with a preallocated KV cache. Several prompts of different lengths
/// run in one decode loop: they are left-padded, masked, and each row keeps its own positions.
/// Each step runs in its own dispose scope, so nothing accumulates per token.
/// </summary>
public sealed class TokenGenerator(CausalLM model)
{
    public CausalLM Model { get; } = model;

    /// <summary>
    /// Decode Llama prompts on CPU fp32 with <see cref="LlamaDecoder"/> (same logits, no per-op overhead) when it applies:
    /// one prompt, or a batch of up to <see cref="LlamaDecoder.MaxBatch"/> prompts each with its own cache region and
    /// position (no padding; finished sequences are skipped); false = always the TorchSharp forward.
    /// </summary>
    public bool FastSingleStream { get; init; } = true;

    /// <summary>Tokens of one prompt as they are produced (the stop token is not yielded).</summary>
    public IEnumerable<int> Stream(IReadOnlyList<int> prompt, SamplingOptions options, CancellationToken cancellationToken = default) =>
        StreamBatch([prompt], options, cancellationToken).Where(t => t.Finish != FinishReason.Stop).Select(t => t.TokenId);

    public GenerationResult Generate(IReadOnlyList<int> prompt, SamplingOptions options) => GenerateBatch([prompt], options)[0];

    public IReadOnlyList<GenerationResult> GenerateBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options)
    {
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        var finish = new FinishReason[prompts.Count];
        foreach (var token in StreamBatch(prompts, options))
        {
            if (token.Finish != FinishReason.Stop) tokens[token.Sequence].Add(token.TokenId);
            if (token.Finish is FinishReason reason) finish[token.Sequence] = reason;
        }
        return tokens.Select((t, i) => new GenerationResult(t, finish[i])).ToArray();
    }

    /// <summary>
    /// Tokens of all prompts as they are produced, step by step (one token per unfinished sequence per
    /// step). The model is in eval mode meanwhile and gets its previous mode back at the end.
    /// </summary>
    public IEnumerable<GeneratedToken> StreamBatch(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, CancellationToken cancellationToken = default)
    {
        // Checked here, not in the iterator, so a bad request fails when made rather than when first read.
        Validate(prompts, options);
        var longest = prompts.Max(p => p.Count);
        if (longest >= Model.Config.MaxPositions)
            throw new ArgumentException($"A prompt of {longest} tokens leaves no room in the model's context of {Model.Config.MaxPositions}.", nameof(prompts));
        var maxNew = Math.Min(options.MaxNewTokens, Model.Config.MaxPositions - longest);
        return maxNew == 0 ? [] : Decode(prompts, options, maxNew, cancellationToken);
    }

    IEnumerable<GeneratedToken> Decode(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options, int maxNew, CancellationToken cancellationToken)
    {
        var config = Model.Config;
        var longest = prompts.Max(p => p.Count);
        var stop = (options.StopTokenIds ?? DefaultStopTokens()).ToHashSet();

        var wasTraining = Model.training;
        Model.eval();
        var device = Model.parameters().First().device;
        using var fast = FastSingleStream && prompts.Count <= LlamaDecoder.MaxBatch ? LlamaDecoder.TryCreate(Model, longest + maxNew, prompts.Count) : null;
        using var cache = fast is null ? Model.CreateCache(prompts.Count, longest + maxNew) : null;
        using var sampler = new TokenSampler(options, prompts, config.VocabSize, device);
        Tensor? logits = null;
        try
        {
            logits = fast is null ? Prefill(prompts, cache!, device) : prompts.Count == 1 ? fast.Prefill(prompts[0]) : fast.PrefillBatch(prompts);
            var positions = prompts.Select(p => (long)p.Count).ToArray();
            var finished = new bool[prompts.Count];
            for (var step = 1; ; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var next = sampler.Pick(logits);
                for (var row = 0; row < next.Length; row++)
                {
                    if (finished[row]) continue;
                    var token = (int)next[row];
                    FinishReason? reason = stop.Contains(token) ? FinishReason.Stop : step == maxNew ? FinishReason.Length : null;
                    finished[row] = reason is not null;
                    yield return new GeneratedToken(row, token, reason);
                }
                if (finished.All(f => f)) yield break;
                logits.Dispose();
                logits = fast is null ? DecodeStep(next, positions, cache!, device) : prompts.Count == 1 ? fast.Step((int)next[0]) : fast.StepBatch(next, finished);
                for (var row = 0; row < positions.Length; row++) positions[row]++;
            }
        }
        finally
        {
            logits?.Dispose();
            if (wasTraining) Model.train();
        }
    }

    /// <summary>Runs the left-padded prompts through the model into the cache; returns last-token logits [batch, vocab].</summary>
    Tensor Prefill(IReadOnlyList<IReadOnlyList<int>> prompts, KvCache cache, Device device)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (batch, longest) = (prompts.Count, prompts.Max(p => p.Count));
        var ids = new long[batch * longest];
        var isToken = new long[batch * longest];
        Array.Fill(ids, Model.Config.PadTokenId ?? 0);
        for (var row = 0; row < batch; row++)
        {
            var pad = longest - prompts[row].Count;
            for (var i = 0; i < prompts[row].Count; i++)
            {
                ids[row * longest + pad + i] = prompts[row][i];
                isToken[row * longest + pad + i] = 1;
            }
        }
        var input = tensor(ids, [batch, longest], device: device);
        Tensor? mask = null, positions = null;
        if (prompts.Any(p => p.Count < longest))
        {
            mask = tensor(isToken, [batch, longest], device: device);
            positions = (mask.cumsum(1) - 1).clamp_min(0); // each row counts from its own first token
        }
        return Model.forward(input, positions, cache, mask, lastTokenOnly: true)
            .squeeze(1).to(ScalarType.Float32).DetachFromDisposeScope();
    }

    /// <summary>Feeds one token per row at its own next position; returns logits [batch, vocab].</summary>
    Tensor DecodeStep(long[] tokens, long[] positions, KvCache cache, Device device)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var input = tensor(tokens, [tokens.Length, 1], device: device);
        var position = tensor(positions, [positions.Length, 1], device: device);
        return Model.forward(input, position, cache, lastTokenOnly: true)
            .squeeze(1).to(ScalarType.Float32).DetachFromDisposeScope();
    }

    IEnumerable<int> DefaultStopTokens()
    {
        if (Model.GenerationConfig?["eos_token_id"] is JsonNode eos)
            return eos is JsonArray list ? list.Select(n => n!.GetValue<int>()).ToArray() : [eos.GetValue<int>()];
        return Model.Config.EosTokenIds;
    }

    static void Validate(IReadOnlyList<IReadOnlyList<int>> prompts, SamplingOptions options)
    {
        if (prompts.Count == 0) throw new ArgumentException("No prompts to generate from.", nameof(prompts));
        if (prompts.Any(p => p.Count == 0)) throw new ArgumentException("A prompt is empty; it needs at least one token (e.g. BOS).", nameof(prompts));
        options.Validate();
    }
}
