using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Assistant.Benchmarks.Decode;

/// <summary>llama.cpp through LLamaSharp's low-level API: one sequence, raw logits, argmax (no sampler chain).</summary>
internal sealed class LlamaCppDecoder : IDisposable
{
    readonly LLamaWeights weights;
    readonly LLamaContext context;

    static LlamaCppDecoder() => NativeLibraryConfig.All.WithLogCallback((_, _) => { }); // its load log would bury the table

    public LlamaCppDecoder(string ggufPath, int threads, uint contextSize)
    {
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = contextSize,
            BatchSize = contextSize,
            UBatchSize = contextSize,
            GpuLayerCount = 0,
            Threads = threads,
            BatchThreads = threads,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32, // our KV cache is fp32 too
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        weights = LLamaWeights.LoadFromFile(parameters);
        context = weights.CreateContext(parameters);
    }

    /// <summary>Greedy tokens after <paramref name="prompt"/>; <paramref name="decodeRate"/> times the decode steps only, as ours is timed.</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count, out double decodeRate)
    {
        context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (var i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: i == prompt.Count - 1);
        Decode(batch);
        var tokens = new List<int> { ArgMax(context.NativeHandle.GetLogitsIth(batch.TokenCount - 1)) };
        var clock = Stopwatch.StartNew();
        for (var step = 1; step < count; step++)
        {
            batch.Clear();
            batch.Add(tokens[^1], prompt.Count + step - 1, LLamaSeqId.Zero, logits: true);
            Decode(batch);
            tokens.Add(ArgMax(context.NativeHandle.GetLogitsIth(0)));
        }
        decodeRate = (count - 1) / clock.Elapsed.TotalSeconds;
        return tokens;
    }

    void Decode(LLamaBatch batch)
    {
        var result = context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}.");
    }

    static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        context.Dispose();
        weights.Dispose();
    }
}
