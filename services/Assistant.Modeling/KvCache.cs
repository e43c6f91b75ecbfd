using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// Keys and values of every layer for a batch of sequences, preallocated to <see cref="MaxLength"/>
/// slots and written in place, so decoding never concatenates. All rows share one write position
/// (<see cref="Length"/>); sequences of different lengths are LEFT-padded and their pad slots are
/// masked out through the attention mask given when they were written.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] keys, values;   // per layer [batch, kv heads, MaxLength, head dim]
    readonly Tensor keyIsToken;       // [batch, MaxLength]: false for padding slots
    bool hasPadding;

    public int BatchSize { get; }
    public int MaxLength { get; }
    /// <summary>Slots filled so far; the next chunk is written from here.</summary>
    public int Length { get; private set; }

    public KvCache(int layers, int batchSize, int kvHeads, int maxLength, int headDim, Device device, ScalarType dtype)
    {
        BatchSize = batchSize;
        MaxLength = maxLength;
        // Detached: the cache outlives the dispose scopes of the steps that fill it.
        keys = Enumerable.Range(0, layers).Select(_ => zeros([batchSize, kvHeads, maxLength, headDim], dtype, device).DetachFromDisposeScope()).ToArray();
        values = Enumerable.Range(0, layers).Select(_ => zeros([batchSize, kvHeads, maxLength, headDim], dtype, device).DetachFromDisposeScope()).ToArray();
        keyIsToken = ones([batchSize, maxLength], ScalarType.Bool, device).DetachFromDisposeScope();
    }

    /// <summary>Forgets every sequence so the cache can serve a new batch of the same size.</summary>
    public void Reset()
    {
        Length = 0;
        hasPadding = false;
        keyIsToken.fill_(true);
    }

    /// <summary>Reserves the next <paramref name="chunk"/> slots and records which of them hold tokens.</summary>
    internal int Begin(int chunk, Tensor? attentionMask)
    {
        if (Length + chunk > MaxLength)
            throw new InvalidOperationException($"KV cache full: {Length} + {chunk} tokens exceed its {MaxLength} slots.");
        if (attentionMask is not null)
        {
            keyIsToken.narrow(1, Length, chunk).copy_(attentionMask.to(ScalarType.Bool));
            hasPadding = true;
        }
        return Length;
    }

    internal void Advance(int chunk) => Length += chunk;

    internal bool HasPadding => hasPadding;
    internal Tensor KeyIsToken(int length) => keyIsToken.narrow(1, 0, length);

    /// <summary>Writes this chunk's keys and values at <paramref name="start"/> and returns all filled slots.</summary>
    internal (Tensor Keys, Tensor Values) Write(int layer, int start, Tensor k, Tensor v)
    {
        var chunk = (int)k.shape[2];
        keys[layer].narrow(2, start, chunk).copy_(k);
        values[layer].narrow(2, start, chunk).copy_(v);
        return (keys[layer].narrow(2, 0, start + chunk), values[layer].narrow(2, 0, start + chunk));
    }

    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
        keyIsToken.Dispose();
    }
}

/// <summary>
/// What every attention layer needs for one forward pass: where the chunk starts in the cache and
/// which keys each query may see. Built once per forward, shared by all layers.
/// </summary>
internal sealed class AttentionContext
{
    public KvCache? Cache { get; }
    public int Start { get; }
    /// <summary>[batch, 1, queries, keys] bool (true = may attend), or null when no mask is needed.</summary>
    public Tensor? Mask { get; }
    /// <summary>SDPA's own causal mask is top-left aligned: valid only for a chunk that starts at slot 0.</summary>
    public bool IsCausal { get; }
    /// <summary>Per-row positions [batch, chunk] used when the caller gives none.</summary>
    public Tensor DefaultPositions { get; }

    public AttentionContext(Tensor inputIds, KvCache? cache, Tensor? attentionMask)
    {
        var (batch, chunk) = ((int)inputIds.shape[0], (int)inputIds.shape[1]);
        var device = inputIds.device;
        Cache = cache;
        if (cache is not null && cache.BatchSize != batch)
            throw new ArgumentException($"Input batch {batch} does not match the KV cache's batch {cache.BatchSize}.");
        if (attentionMask is not null && attentionMask.dim() == 3)
        {
            // Packed training rows: the caller's [batch, queries, keys] mask (block-diagonal causal) is used as is.
            if (cache is not null) throw new ArgumentException("A [batch, tokens, tokens] attention mask is for training without a KV cache.");
            DefaultPositions = arange(0, chunk, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(batch, chunk);
            Mask = attentionMask.to(ScalarType.Bool).unsqueeze(1);
            return;
        }
        Start = cache?.Begin(chunk, attentionMask) ?? 0;
        var total = Start + chunk;
        DefaultPositions = arange(Start, total, dtype: ScalarType.Int64, device: device).unsqueeze(0).expand(batch, chunk);

        var padded = attentionMask is not null || cache is { HasPadding: true };
        if (!padded && Start == 0) { IsCausal = chunk > 1; return; }
        if (!padded && chunk == 1) return; // one new query after the prefix sees every key

        // Explicit mask: key j is visible to query i (at slot Start+i) when j <= Start+i and j holds a token.
        var querySlot = arange(Start, total, dtype: ScalarType.Int64, device: device).unsqueeze(1);
        var keySlot = arange(0, total, dtype: ScalarType.Int64, device: device).unsqueeze(0);
        var mask = keySlot.le(querySlot).unsqueeze(0).unsqueeze(0);              // [1, 1, chunk, total]
        if (padded)
        {
            var keyIsToken = cache?.KeyIsToken(total) ?? attentionMask!.to(ScalarType.Bool);
            // A padding query would see no key at all (SDPA then returns NaN, which leaks through
            // later layers' masked keys); letting it see itself keeps its garbage finite.
            mask = mask.logical_and(keyIsToken.unsqueeze(1).unsqueeze(1)).logical_or(keySlot.eq(querySlot));
        }
        Mask = mask;
    }

    /// <summary>
    /// Scaled dot-product attention of this chunk's queries over the cached and new keys/values
    /// ([batch, heads, len, head dim]); K/V heads are repeated for grouped-query attention.
    /// </summary>
    public Tensor Attend(int layer, Tensor q, Tensor k, Tensor v, double dropout)
    {
        if (Cache is not null) (k, v) = Cache.Write(layer, Start, k, v);
        var (qShape, kvHeads) = (q.shape, k.shape[1]); // each .shape is a native call: read once
        var groups = qShape[1] / kvHeads;
        if (groups > 1 && qShape[2] == 1)
        {
            // One query per row (decoding): the query heads sharing a K/V head attend as rows of one
            // group, so the whole cache is not copied `groups` times each step. The mask broadcasts.
            return nn.functional.scaled_dot_product_attention(q.reshape(qShape[0], kvHeads, groups, qShape[3]), k, v, Mask, dropout, is_casual: false)
                .reshape(qShape);
        }
        if (groups > 1)
        {
            k = k.repeat_interleave(groups, dim: 1);
            v = v.repeat_interleave(groups, dim: 1);
        }
        return nn.functional.scaled_dot_product_attention(q, k, v, Mask, dropout, is_casual: IsCausal);
    }

    public void Finish(int chunk) => Cache?.Advance(chunk);
}
