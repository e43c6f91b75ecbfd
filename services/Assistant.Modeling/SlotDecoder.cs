using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// Sequences that join and leave one decode loop between steps (continuous batching). Each sequence takes a slot with its
/// own cache and position; a slot is refilled by the next prompt as soon as its sequence ends. Llama on CPU fp32 steps all
/// slots in one pass of <see cref="LlamaDecoder"/>; any other model falls back to a batch-1 <see cref="KvCache"/> per slot,
/// stepped in turn: the same tokens as decoding each sequence alone, only not batched.
/// </summary>
public abstract class SlotDecoder : IDisposable
{
    private protected SlotDecoder(int slots, int maxLength) => (Slots, MaxLength) = (slots, maxLength);

    /// <summary>Sequences decoded at once.</summary>
    public int Slots { get; }

    /// <summary>Prompt plus generated tokens one slot holds.</summary>
    public int MaxLength { get; }

    /// <summary>True when one step computes every slot in one pass (<see cref="LlamaDecoder"/>).</summary>
    public abstract bool IsBatched { get; }

    /// <summary>A decoder of <paramref name="slots"/> sequences of up to <paramref name="maxLength"/> tokens; the model is put in eval mode.</summary>
    public static SlotDecoder Create(CausalLM model, int slots, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        model.eval();
        return slots <= LlamaDecoder.MaxBatch && LlamaDecoder.TryCreate(model, maxLength, slots) is { } fast
            ? new Batched(fast, maxLength)
            : new OneByOne(model, slots, maxLength);
    }

    /// <summary>Starts <paramref name="slot"/> over with <paramref name="prompt"/> (the other slots keep theirs); returns its last-token logits [1, vocab] fp32.</summary>
    public abstract Tensor Prefill(int slot, IReadOnlyList<int> prompt);

    /// <summary>
    /// Feeds tokens[s] at the next position of every slot s with <paramref name="active"/>[s] set; returns logits [slots, vocab] fp32
    /// (rows of inactive slots are zero). The caller disposes the logits.
    /// </summary>
    public abstract Tensor Step(IReadOnlyList<long> tokens, IReadOnlyList<bool> active);

    public abstract void Dispose();

    sealed class Batched(LlamaDecoder decoder, int maxLength) : SlotDecoder(decoder.Batch, maxLength)
    {
        readonly bool[] skip = new bool[decoder.Batch];

        public override bool IsBatched => true;

        public override Tensor Prefill(int slot, IReadOnlyList<int> prompt) => decoder.PrefillSequence(slot, prompt);

        public override Tensor Step(IReadOnlyList<long> tokens, IReadOnlyList<bool> active)
        {
            for (var s = 0; s < skip.Length; s++) skip[s] = !active[s];
            return decoder.StepBatch(tokens, skip);
        }

        public override void Dispose() => decoder.Dispose();
    }

    /// <summary>The TorchSharp forward, one sequence at a time, exactly as <see cref="TokenGenerator"/> decodes a single prompt.</summary>
    sealed class OneByOne : SlotDecoder
    {
        readonly CausalLM model;
        readonly KvCache[] caches;
        readonly Device device;

        public OneByOne(CausalLM model, int slots, int maxLength) : base(slots, maxLength)
        {
            this.model = model;
            device = model.parameters().First().device;
            caches = Enumerable.Range(0, slots).Select(_ => model.CreateCache(1, maxLength)).ToArray();
        }

        public override bool IsBatched => false;

        public override Tensor Prefill(int slot, IReadOnlyList<int> prompt)
        {
            if (prompt.Count == 0) throw new ArgumentException("The prompt is empty; it needs at least one token.", nameof(prompt));
            var cache = caches[slot];
            cache.Reset();
            return Forward(prompt.Select(t => (long)t).ToArray(), cache);
        }

        public override Tensor Step(IReadOnlyList<long> tokens, IReadOnlyList<bool> active)
        {
            var logits = zeros([Slots, model.Config.VocabSize], ScalarType.Float32, device).DetachFromDisposeScope();
            for (var s = 0; s < Slots; s++)
            {
                if (!active[s]) continue;
                using var row = Forward([tokens[s]], caches[s]);
                using var target = logits.narrow(0, s, 1);
                target.copy_(row);
            }
            return logits;
        }

        Tensor Forward(long[] ids, KvCache cache)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            return model.forward(tensor(ids, [1, ids.Length], device: device), null, cache, lastTokenOnly: true)
                .squeeze(1).to(ScalarType.Float32).DetachFromDisposeScope();
        }

        public override void Dispose()
        {
            foreach (var cache in caches) cache.Dispose();
        }
    }
}
