using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// Picks the next token of each of one request's sequences from their logits, following HF's logits-processor order
/// (repetition penalty, temperature, top-k, top-p). The request owns its seeded generator and its memory of tokens seen,
/// so its tokens do not depend on what else is decoded beside it: <see cref="TokenGenerator"/> makes one per generation,
/// a serving engine one per request.
/// </summary>
public sealed class TokenSampler : IDisposable
{
    readonly SamplingOptions options;
    readonly torch.Generator? generator;
    readonly Tensor? seen; // [sequences, vocab] bool, only with a repetition penalty

    /// <summary>A sampler for <paramref name="prompts"/> (one row of logits each); their tokens count as seen.</summary>
    /// <exception cref="ArgumentException">The options are out of range.</exception>
    public TokenSampler(SamplingOptions options, IReadOnlyList<IReadOnlyList<int>> prompts, int vocabSize, Device device)
    {
        options.Validate();
        this.options = options;
        generator = options.Temperature > 0 && options.Seed is long seed ? new torch.Generator(unchecked((ulong)seed), device) : null;
        if (options.RepetitionPenalty != 1.0)
        {
            seen = zeros([prompts.Count, vocabSize], ScalarType.Bool, device).DetachFromDisposeScope();
            using var scope = NewDisposeScope();
            var rows = prompts.SelectMany((p, row) => p.Select(_ => (long)row)).ToArray();
            var tokens = prompts.SelectMany(p => p.Select(t => (long)t)).ToArray();
            seen.index_put_(tensor(true, device: device), tensor(rows, device: device), tensor(tokens, device: device));
        }
    }

    /// <summary>The next token of every row of <paramref name="logits"/> [sequences, vocab]; with a repetition penalty it counts as seen.</summary>
    public long[] Pick(Tensor logits)
    {
        if (options.Temperature <= 0 && seen is null && logits.device_type == DeviceType.CPU && logits.dtype == ScalarType.Float32 && logits.is_contiguous())
            return ArgMax(logits);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var x = logits;
        if (seen is not null)
        {
            var penalty = options.RepetitionPenalty;
            x = where(seen, where(x.lt(0), x * penalty, x / penalty), x);
        }
        Tensor next;
        if (options.Temperature <= 0)
        {
            next = x.argmax(-1);
        }
        else
        {
            x = x / options.Temperature;
            if (options.TopK > 0 && options.TopK < x.shape[^1])
            {
                var kth = x.topk(options.TopK, dim: -1).values.narrow(-1, options.TopK - 1, 1);
                x = x.masked_fill(x.lt(kth), double.NegativeInfinity);
            }
            if (options.TopP < 1.0)
            {
                var (sorted, order) = x.sort(-1, descending: true);
                var probs = sorted.softmax(-1);
                // Drop a token once the tokens before it already hold top_p of the mass (the first always stays).
                var drop = (probs.cumsum(-1) - probs).ge(options.TopP);
                x = full_like(x, double.NegativeInfinity).scatter(-1, order, sorted.masked_fill(drop, double.NegativeInfinity));
            }
            next = multinomial(x.softmax(-1), 1, replacement: false, generator: generator).squeeze(-1);
        }
        if (seen is not null)
            seen.index_put_(tensor(true, device: seen.device), arange(next.shape[0], dtype: ScalarType.Int64, device: next.device), next);
        return next.cpu().data<long>().ToArray();
    }

    /// <summary>
    /// torch's argmax(-1) of CPU fp32 logits [rows, vocab] (the first maximum; a NaN counts as the maximum) read in place:
    /// the TorchSharp ops and the copy back cost ~0.1 ms a step, as much as a fast decode step's attention.
    /// </summary>
    static long[] ArgMax(Tensor logits)
    {
        var vocab = (int)logits.shape[^1];
        var all = MemoryMarshal.Cast<byte, float>(logits.bytes);
        var next = new long[all.Length / vocab];
        for (var row = 0; row < next.Length; row++)
        {
            var values = all.Slice(row * vocab, vocab);
            var (best, bestValue) = (0, values[0]);
            for (var i = 1; i < values.Length; i++)
                if (values[i] > bestValue || (float.IsNaN(values[i]) && !float.IsNaN(bestValue))) (best, bestValue) = (i, values[i]);
            next[row] = best;
        }
        return next;
    }

    public void Dispose()
    {
        generator?.Dispose();
        seen?.Dispose();
    }
}
