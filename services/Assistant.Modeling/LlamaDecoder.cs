using System.Collections;
using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// One Llama sequence, or a batch of up to <see cref="MaxBatch"/> sequences with their own positions, decoded token by token on the CPU in fp32 without TorchSharp per-op overhead:
/// AVX2/FMA GEMVs read the model's own parameter memory (no copy), the K/V cache is this class's own.
/// Computes what <see cref="LlamaForCausalLM"/> computes (RMSNorm, rotary with the same inverse
/// frequencies, grouped-query attention, SwiGLU, biases, tied or separate head) to within float rounding.
/// Made per generation (or once per serving engine, whose requests take and leave sequences through
/// <see cref="PrefillSequence"/>) by <see cref="TryCreate"/>, which says no when the model is not eligible.
/// A batch step reads each weight row once for all sequences (the same multi-vector kernel as the prefill passes);
/// each sequence has its own region of the K/V cache, its own position and its own attention length.
/// </summary>
public sealed unsafe class LlamaDecoder : IDisposable
{
    /// <summary>Pointers into one decoder layer's parameter tensors (bias pointers null when absent).</summary>
    readonly struct LayerWeights
    {
        public required float* InputNorm { get; init; }
        public required float* PostNorm { get; init; }
        public required float* Q { get; init; }
        public required float* K { get; init; }
        public required float* V { get; init; }
        public required float* O { get; init; }
        public required float* QBias { get; init; }
        public required float* KBias { get; init; }
        public required float* VBias { get; init; }
        public required float* OBias { get; init; }
        public required float* Gate { get; init; }
        public required float* Up { get; init; }
        public required float* Down { get; init; }
        public required float* GateBias { get; init; }
        public required float* UpBias { get; init; }
        public required float* DownBias { get; init; }
    }

    /// <summary>Rows of one matrix product over <c>Count</c> tokens: y[t, r] = w[r, :] . x[t, :] (+ b[r]).</summary>
    readonly record struct MatVec(nint W, nint B, nint X, nint Y, int Rows, int Cols, int Count);

    /// <summary>Prompt tokens per pass: each weight row is read once for all of them.</summary>
    const int Block = 8;

    /// <summary>The most sequences one decoder holds: a batch step is one pass of at most <see cref="Block"/> tokens.</summary>
    public const int MaxBatch = Block;

    readonly Tensor[] parameters; // kept referenced: the pointers below point into them
    readonly LayerWeights[] layers;
    readonly float* embed, finalNorm, head;
    readonly int d, heads, kvHeads, headDim, inter, vocab, maxLength, keyStride, threads;
    readonly float eps;
    readonly float[] invFreq;
    readonly float*[] keys, values;   // per layer: keys [sequence][kv heads][keyStride / 8 tiles][head dim][8 positions]; values [sequence][kv heads][maxLength][head dim]
    readonly int[] lengths;           // tokens in each sequence's cache
    readonly float* x, xn, q, k, v, att, tmp, gate, up, scores, cos, sin; // scores: QueryHeadsAtOnce rows of keyStride per thread
    readonly MatVec[] qkv = new MatVec[3], gateUp = new MatVec[2], single = new MatVec[1];
    MatVec[] job = [];
    int jobRows;
    readonly Action<int> runChunk, attendChunk;
    (int Layer, int[] Sequences, int[] Positions, int Count) attention; // what AttendChunk works on
    readonly ParallelOptions parallel;

    /// <summary>Tokens in sequence 0's cache.</summary>
    public int Length => lengths[0];

    /// <summary>Sequences this decoder holds.</summary>
    public int Batch => lengths.Length;

    /// <summary>Tokens in the cache of sequence <paramref name="sequence"/>.</summary>
    public int LengthOf(int sequence) => lengths[sequence];

    LlamaDecoder(LlamaForCausalLM model, LlamaConfig config, int maxLength, int batch)
    {
        this.maxLength = maxLength;
        keyStride = (maxLength + 7) & ~7; // whole vectors of positions
        lengths = new int[batch];
        (d, heads, kvHeads, headDim, inter, vocab) = (config.HiddenSize, config.NumHeads, config.NumKeyValueHeads, config.HeadDim, config.IntermediateSize, config.VocabSize);
        eps = (float)config.RmsNormEps;
        invFreq = LlamaRotaryEmbedding.InverseFrequencies(config);
        threads = Math.Max(1, torch.get_num_threads()); // the same thread budget the torch path gets
        parallel = new ParallelOptions { MaxDegreeOfParallelism = threads };
        runChunk = RunChunk;
        attendChunk = AttendChunk;

        var named = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        parameters = named.Values.ToArray();
        float* P(string name) => named.TryGetValue(name, out var t) ? DataPointer(t) : null;
        float* Required(string name) => P(name) is var p && p != null ? p : throw new InvalidOperationException($"LlamaDecoder: parameter '{name}' is missing.");
        embed = Required("model.embed_tokens.weight");
        finalNorm = Required("model.norm.weight");
        head = config.TieWordEmbeddings ? embed : Required("lm_head.weight");
        layers = new LayerWeights[config.NumLayers];
        for (var i = 0; i < layers.Length; i++)
        {
            var (a, m) = ($"model.layers.{i}.self_attn.", $"model.layers.{i}.mlp.");
            layers[i] = new LayerWeights
            {
                InputNorm = Required($"model.layers.{i}.input_layernorm.weight"),
                PostNorm = Required($"model.layers.{i}.post_attention_layernorm.weight"),
                Q = Required(a + "q_proj.weight"), K = Required(a + "k_proj.weight"), V = Required(a + "v_proj.weight"), O = Required(a + "o_proj.weight"),
                QBias = P(a + "q_proj.bias"), KBias = P(a + "k_proj.bias"), VBias = P(a + "v_proj.bias"), OBias = P(a + "o_proj.bias"),
                Gate = Required(m + "gate_proj.weight"), Up = Required(m + "up_proj.weight"), Down = Required(m + "down_proj.weight"),
                GateBias = P(m + "gate_proj.bias"), UpBias = P(m + "up_proj.bias"), DownBias = P(m + "down_proj.bias"),
            };
        }

        keys = new float*[layers.Length];
        values = new float*[layers.Length];
        for (var i = 0; i < layers.Length; i++)
        {
            keys[i] = Alloc((long)batch * kvHeads * headDim * keyStride);
            values[i] = Alloc((long)batch * kvHeads * maxLength * headDim);
        }
        x = Alloc(Block * d); xn = Alloc(Block * d); tmp = Alloc(Block * d);
        q = Alloc(Block * heads * headDim); att = Alloc(Block * heads * headDim);
        k = Alloc(Block * kvHeads * headDim); v = Alloc(Block * kvHeads * headDim);
        gate = Alloc(Block * inter); up = Alloc(Block * inter);
        scores = Alloc((long)threads * QueryHeadsAtOnce * keyStride);
        cos = Alloc(Block * headDim / 2); sin = Alloc(Block * headDim / 2);
    }

    /// <summary>
    /// A decoder for <paramref name="model"/> with room for <paramref name="maxLength"/> tokens in each of
    /// <paramref name="batch"/> sequences, or null when this path does not apply: not Llama, not CPU fp32 contiguous
    /// parameters, forward hooks registered (LoRA), no AVX2/FMA, or a batch outside [1, <see cref="MaxBatch"/>].
    /// </summary>
    public static LlamaDecoder? TryCreate(CausalLM model, int maxLength, int batch = 1)
    {
        if (batch is < 1 or > MaxBatch) return null;
        if (model is not LlamaForCausalLM llama || model.Config is not LlamaConfig config) return null;
        if (!Fma.IsSupported || !Avx2.IsSupported || config.HeadDim % 2 != 0) return null;
        foreach (var (_, p) in model.named_parameters())
            if (p.device_type != DeviceType.CPU || p.dtype != ScalarType.Float32 || !p.is_contiguous() || p.numel() * sizeof(float) > int.MaxValue) return null; // Tensor.bytes is a Span
        if (HasForwardHooks(model)) return null;
        if ((long)batch * config.NumKeyValueHeads * ((maxLength + 7) & ~7) * config.HeadDim + 15 > Array.MaxLength) return null; // one K/V cache array
        return new LlamaDecoder(llama, config, maxLength, batch);
    }

    /// <summary>Runs the prompt through the cache, <see cref="Block"/> tokens per pass; returns the last token's logits [1, vocab].</summary>
    public Tensor Prefill(IReadOnlyList<int> prompt)
    {
        var logits = empty([1, vocab], ScalarType.Float32).DetachFromDisposeScope();
        Prefill(0, prompt, DataPointer(logits));
        return logits;
    }

    /// <summary>
    /// Runs prompt i through sequence i's cache (pass by pass, as <see cref="Prefill(IReadOnlyList{int})"/>); returns each
    /// prompt's last-token logits [prompts, vocab]. There must be one prompt per sequence of the decoder.
    /// </summary>
    public Tensor PrefillBatch(IReadOnlyList<IReadOnlyList<int>> prompts)
    {
        if (prompts.Count != Batch) throw new ArgumentException($"{prompts.Count} prompts for a decoder of {Batch} sequences.", nameof(prompts));
        var logits = empty([Batch, vocab], ScalarType.Float32).DetachFromDisposeScope();
        var output = DataPointer(logits);
        for (var i = 0; i < prompts.Count; i++) Prefill(i, prompts[i], output + (long)i * vocab);
        return logits;
    }

    /// <summary>
    /// Starts sequence <paramref name="sequence"/> over with <paramref name="prompt"/> while the others keep their caches
    /// (a request joining a continuous batch); returns its last-token logits [1, vocab], the same as <see cref="Prefill(IReadOnlyList{int})"/>.
    /// </summary>
    public Tensor PrefillSequence(int sequence, IReadOnlyList<int> prompt)
    {
        Reset(sequence);
        var logits = empty([1, vocab], ScalarType.Float32).DetachFromDisposeScope();
        Prefill(sequence, prompt, DataPointer(logits));
        return logits;
    }

    /// <summary>Empties sequence <paramref name="sequence"/>'s cache; what it held is overwritten, never read again.</summary>
    public void Reset(int sequence)
    {
        if ((uint)sequence >= (uint)Batch) throw new ArgumentOutOfRangeException(nameof(sequence), $"Sequence {sequence} is outside the decoder's {Batch}.");
        lengths[sequence] = 0;
    }

    void Prefill(int sequence, IReadOnlyList<int> prompt, float* output)
    {
        if (prompt.Count == 0) throw new ArgumentException("The prompt is empty; it needs at least one token.", nameof(prompt));
        var tokens = new int[Block];
        var sequences = new int[Block];
        Array.Fill(sequences, sequence);
        for (var start = 0; ; start += Block)
        {
            var count = Math.Min(Block, prompt.Count - start);
            for (var t = 0; t < count; t++) tokens[t] = prompt[start + t];
            var last = start + count == prompt.Count;
            Forward(tokens, sequences, count, last ? output : null, lastOnly: true);
            if (last) return;
        }
    }

    /// <summary>Feeds one token at the next position of sequence 0; returns its logits [1, vocab] fp32 (the caller disposes them).</summary>
    public Tensor Step(int token)
    {
        stepToken[0] = token;
        var logits = empty([1, vocab], ScalarType.Float32).DetachFromDisposeScope();
        Forward(stepToken, stepSequence, 1, DataPointer(logits), lastOnly: true);
        return logits;
    }

    readonly int[] stepToken = new int[1], stepSequence = new int[1];
    float* batchLogits; // rows of the sequences stepped when some are skipped

    /// <summary>
    /// Feeds tokens[i] at the next position of sequence i, all in one pass (each weight row read once); returns logits
    /// [batch, vocab]. Sequences with <paramref name="skip"/>[i] set are left as they are and get zero logits.
    /// </summary>
    public Tensor StepBatch(IReadOnlyList<long> tokens, IReadOnlyList<bool>? skip = null)
    {
        if (tokens.Count != Batch) throw new ArgumentException($"{tokens.Count} tokens for a decoder of {Batch} sequences.", nameof(tokens));
        var logits = zeros([Batch, vocab], ScalarType.Float32).DetachFromDisposeScope();
        var (ids, sequences, count) = (new int[Block], new int[Block], 0);
        for (var i = 0; i < tokens.Count; i++)
        {
            if (skip is not null && skip[i]) continue;
            if (tokens[i] is < 0 or > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {tokens[i]} is outside the vocabulary of {vocab}.");
            (ids[count], sequences[count]) = ((int)tokens[i], i);
            count++;
        }
        if (count == 0) return logits;
        var output = DataPointer(logits);
        if (count == Batch) // every sequence in order: the rows land in place
        {
            Forward(ids, sequences, count, output, lastOnly: false);
            return logits;
        }
        if (batchLogits == null) batchLogits = Alloc((long)Batch * vocab);
        Forward(ids, sequences, count, batchLogits, lastOnly: false);
        for (var t = 0; t < count; t++)
            Buffer.MemoryCopy(batchLogits + (long)t * vocab, output + (long)sequences[t] * vocab, vocab * sizeof(float), vocab * sizeof(float));
        return logits;
    }

    /// <summary>
    /// Tokens [0, count), token t at the next position of sequence sequences[t], through every layer into the cache;
    /// logits into <paramref name="output"/> (when not null) of the last token, or of every token [count, vocab].
    /// </summary>
    void Forward(int[] tokens, int[] sequences, int count, float* output, bool lastOnly)
    {
        ObjectDisposedException.ThrowIf(buffers.Count == 0, this);
        var (half, qSize, kvSize) = (headDim / 2, heads * headDim, kvHeads * headDim);
        var positions = new int[count];
        for (var t = 0; t < count; t++)
        {
            var sequence = sequences[t];
            if ((uint)sequence >= (uint)Batch) throw new ArgumentOutOfRangeException(nameof(sequences), $"Sequence {sequence} is outside the decoder's {Batch}.");
            var position = lengths[sequence];
            for (var u = 0; u < t; u++) if (sequences[u] == sequence) position++;
            if (position >= maxLength) throw new InvalidOperationException($"KV cache full: sequence {sequence} has no slot left for its token at position {position} (it has {maxLength}).");
            positions[t] = position;
        }
        for (var t = 0; t < count; t++)
        {
            if ((uint)tokens[t] >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(tokens), $"Token id {tokens[t]} is outside the vocabulary of {vocab}.");
            Buffer.MemoryCopy(embed + (long)tokens[t] * d, x + t * d, d * sizeof(float), d * sizeof(float));
            // Same float32 angles as LlamaRotaryEmbedding.RolledTables: position (as float) * inv_freq.
            for (var i = 0; i < half; i++)
            {
                var angle = (float)positions[t] * invFreq[i];
                cos[t * half + i] = MathF.Cos(angle);
                sin[t * half + i] = MathF.Sin(angle);
            }
        }
        var (span, keySpan) = ((long)maxLength * headDim, (long)headDim * keyStride);

        for (var l = 0; l < layers.Length; l++)
        {
            ref readonly var w = ref layers[l];
            for (var t = 0; t < count; t++) RmsNorm(x + t * d, w.InputNorm, xn + t * d);
            qkv[0] = new MatVec((nint)w.Q, (nint)w.QBias, (nint)xn, (nint)q, qSize, d, count);
            qkv[1] = new MatVec((nint)w.K, (nint)w.KBias, (nint)xn, (nint)k, kvSize, d, count);
            qkv[2] = new MatVec((nint)w.V, (nint)w.VBias, (nint)xn, (nint)v, kvSize, d, count);
            Run(qkv);
            float* layerKeys = keys[l], layerValues = values[l];
            for (var t = 0; t < count; t++)
            {
                var slot = sequences[t] * kvHeads * span + (long)positions[t] * headDim;
                for (var h = 0; h < heads; h++) Rotate(q + t * qSize + h * headDim, cos + t * half, sin + t * half);
                for (var h = 0; h < kvHeads; h++)
                {
                    var key = k + t * kvSize + h * headDim;
                    Rotate(key, cos + t * half, sin + t * half);
                    var column = layerKeys + (sequences[t] * kvHeads + h) * keySpan + (positions[t] & ~7) * headDim + (positions[t] & 7); // in its tile of 8
                    for (var j = 0; j < headDim; j++) column[j * 8] = key[j];
                    Buffer.MemoryCopy(v + t * kvSize + h * headDim, layerValues + h * span + slot, headDim * sizeof(float), headDim * sizeof(float));
                }
            }
            attention = (l, sequences, positions, count);
            if (threads == 1 || count == 1) Attend(0, count * AttentionUnits, scores); // one token's heads: a few µs, less than a thread handoff is worth
            else Parallel.For(0, threads, parallel, attendChunk);
            single[0] = new MatVec((nint)w.O, (nint)w.OBias, (nint)att, (nint)tmp, d, qSize, count);
            Run(single);
            Add(x, tmp, count * d);

            for (var t = 0; t < count; t++) RmsNorm(x + t * d, w.PostNorm, xn + t * d);
            gateUp[0] = new MatVec((nint)w.Gate, (nint)w.GateBias, (nint)xn, (nint)gate, inter, d, count);
            gateUp[1] = new MatVec((nint)w.Up, (nint)w.UpBias, (nint)xn, (nint)up, inter, d, count);
            Run(gateUp);
            SwiGlu(gate, up, count * inter);
            single[0] = new MatVec((nint)w.Down, (nint)w.DownBias, (nint)gate, (nint)tmp, d, inter, count);
            Run(single);
            Add(x, tmp, count * d);
        }
        for (var t = 0; t < count; t++) lengths[sequences[t]]++;
        if (output == null) return;
        var (first, rows) = lastOnly ? (count - 1, 1) : (0, count);
        for (var t = 0; t < rows; t++) RmsNorm(x + (first + t) * d, finalNorm, xn + t * d);
        single[0] = new MatVec((nint)head, 0, (nint)xn, (nint)output, vocab, d, rows);
        Run(single);
    }

    /// <summary>Query heads attended together over one read of their shared K/V head (grouped-query attention).</summary>
    const int QueryHeadsAtOnce = 4;

    /// <summary>Query-head chunks per K/V head: each is one unit of attention work.</summary>
    int ChunksPerKvHead => (heads / kvHeads + QueryHeadsAtOnce - 1) / QueryHeadsAtOnce;

    /// <summary>Units of attention work per token: (K/V head, chunk of its query heads).</summary>
    int AttentionUnits => kvHeads * ChunksPerKvHead;

    /// <summary>
    /// Chunk <paramref name="index"/> of the attention units of <see cref="attention"/>, with its own scores rows:
    /// on one thread, attention was ~20% of a batch-of-8 step while the GEMVs split across threads.
    /// </summary>
    void AttendChunk(int index)
    {
        var total = attention.Count * AttentionUnits;
        var per = (total + threads - 1) / threads;
        Attend(index * per, Math.Min(total, (index + 1) * per), scores + (long)index * QueryHeadsAtOnce * keyStride);
    }

    /// <summary>
    /// Units [first, end) of <see cref="attention"/>: unit = (token * K/V heads + K/V head) * chunks + chunk, where a chunk is
    /// up to <see cref="QueryHeadsAtOnce"/> of the query heads sharing that K/V head. Each unit reads its K/V once for all its
    /// query heads: one read per query head made attention bound by reading the cache (three times over for 6 heads on 2).
    /// </summary>
    void Attend(int first, int end, float* scores)
    {
        var (layer, sequences, positions, _) = attention;
        var (qSize, groups, chunks, span, keySpan) = (heads * headDim, heads / kvHeads, ChunksPerKvHead, (long)maxLength * headDim, (long)headDim * keyStride);
        // The cache block of token tokenHead / kvHeads's sequence and K/V head tokenHead % kvHeads (causal: the token sees that sequence's slots [0, position]).
        long CacheBlock(int tokenHead) => sequences[tokenHead / kvHeads] * kvHeads + tokenHead % kvHeads;
        var scale = 1f / MathF.Sqrt(headDim);
        var queries = stackalloc float*[QueryHeadsAtOnce];
        var outputs = stackalloc float*[QueryHeadsAtOnce];
        var rows = stackalloc float*[QueryHeadsAtOnce];
        for (var i = 0; i < QueryHeadsAtOnce; i++) rows[i] = scores + (long)i * keyStride;
        for (var unit = first; unit < end; unit++)
        {
            var (tokenHead, chunk) = Math.DivRem(unit, chunks);
            var (t, g) = Math.DivRem(tokenHead, kvHeads);
            var h0 = g * groups + chunk * QueryHeadsAtOnce;
            var n = Math.Min(QueryHeadsAtOnce, (g + 1) * groups - h0);
            for (var i = 0; i < n; i++)
            {
                queries[i] = q + t * qSize + (h0 + i) * headDim;
                outputs[i] = att + t * qSize + (h0 + i) * headDim;
            }
            if (unit + 1 < end && (unit + 1) % chunks == 0) // the next unit reads another K/V head: its first two tile pairs, ahead
            {
                var next = keys[layer] + CacheBlock((unit + 1) / chunks) * keySpan;
                for (var i = 0; i < 32 * headDim; i += 16) Sse.Prefetch0(next + i);
            }
            var block = CacheBlock(tokenHead);
            float* keyTiles = keys[layer] + block * keySpan, valueRows = values[layer] + block * span;
            var count = positions[t] + 1;
            switch (n)
            {
                case 1: Attend<OneHead>(queries, keyTiles, valueRows, count, scale, outputs, rows); break;
                case 2: Attend<TwoHeads>(queries, keyTiles, valueRows, count, scale, outputs, rows); break;
                case 3: Attend<ThreeHeads>(queries, keyTiles, valueRows, count, scale, outputs, rows); break;
                default: Attend<FourHeads>(queries, keyTiles, valueRows, count, scale, outputs, rows); break;
            }
        }
    }

    /// <summary>HF's rotate_half convention: element j pairs with j + head dim / 2.</summary>
    void Rotate(float* h, float* cos, float* sin)
    {
        var half = headDim / 2;
        var j = 0;
        for (; j + 8 <= half; j += 8)
        {
            var (a, b) = (Avx.LoadVector256(h + j), Avx.LoadVector256(h + j + half));
            var (c, s) = (Avx.LoadVector256(cos + j), Avx.LoadVector256(sin + j));
            Avx.Store(h + j, a * c - b * s);
            Avx.Store(h + j + half, b * c + a * s);
        }
        for (; j < half; j++)
        {
            var (a, b) = (h[j], h[j + half]);
            h[j] = a * cos[j] - b * sin[j];
            h[j + half] = b * cos[j] + a * sin[j];
        }
    }

    /// <summary>A count of query heads fixed when the attention kernel is compiled: the JIT drops the work of absent heads.</summary>
    interface IHeadCount
    {
        static abstract int Value { get; }
    }

    readonly struct OneHead : IHeadCount { public static int Value => 1; }
    readonly struct TwoHeads : IHeadCount { public static int Value => 2; }
    readonly struct ThreeHeads : IHeadCount { public static int Value => 3; }
    readonly struct FourHeads : IHeadCount { public static int Value => 4; }

    /// <summary>
    /// <typeparamref name="THeads"/> query heads (at most four) over <paramref name="count"/> cached positions of their shared
    /// K/V head: softmax(q.K * scale) . V. The keys are stored in tiles of 8 positions ([head dim][8]) so each FMA chain yields
    /// the scores of 8 positions with no horizontal sums, a key is written into one tile rather than a column across the
    /// whole cache, and the tiles are read in order. Each key and value vector loaded serves every head.
    /// </summary>
    void Attend<THeads>(float** queries, float* keyTiles, float* valueRows, int count, float scale, float** outputs, float** scores)
        where THeads : struct, IHeadCount
    {
        var n = THeads.Value;
        var tiles = (count + 7) >> 3; // positions past count read zeros (or older keys) and are dropped below
        var tileSize = headDim * 8;
        float* q0 = queries[0], q1 = queries[Math.Min(1, n - 1)], q2 = queries[Math.Min(2, n - 1)], q3 = queries[Math.Min(3, n - 1)];
        float* s0 = scores[0], s1 = scores[1], s2 = scores[2], s3 = scores[3];
        var sc = Vector256.Create(scale);
        var tile = 0;
        for (; tile + 2 <= tiles; tile += 2) // two tiles by up to four heads: up to eight FMA chains from two loads of keys
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
            var key = keyTiles + (long)tile * tileSize;
            float* ahead = key + 4 * tileSize, pairValues = valueRows + (long)tile * tileSize; // a tile pair spans head dim lines
            for (var j = 0; j < headDim; j++, key += 8)
            {
                Sse.Prefetch0(ahead + j * 16); // the keys two pairs on, a line per step: one pair ahead came too late
                Sse.Prefetch0(pairValues + j * 16); // this pair's values, read once the scores are done
                var (k0, k1) = (Avx.LoadVector256(key), Avx.LoadVector256(key + tileSize));
                var b = Vector256.Create(q0[j]); a0 = Fma.MultiplyAdd(b, k0, a0); b0 = Fma.MultiplyAdd(b, k1, b0);
                if (n > 1) { b = Vector256.Create(q1[j]); a1 = Fma.MultiplyAdd(b, k0, a1); b1 = Fma.MultiplyAdd(b, k1, b1); }
                if (n > 2) { b = Vector256.Create(q2[j]); a2 = Fma.MultiplyAdd(b, k0, a2); b2 = Fma.MultiplyAdd(b, k1, b2); }
                if (n > 3) { b = Vector256.Create(q3[j]); a3 = Fma.MultiplyAdd(b, k0, a3); b3 = Fma.MultiplyAdd(b, k1, b3); }
            }
            var at = tile * 8;
            Avx.Store(s0 + at, a0 * sc); Avx.Store(s0 + at + 8, b0 * sc);
            if (n > 1) { Avx.Store(s1 + at, a1 * sc); Avx.Store(s1 + at + 8, b1 * sc); }
            if (n > 2) { Avx.Store(s2 + at, a2 * sc); Avx.Store(s2 + at + 8, b2 * sc); }
            if (n > 3) { Avx.Store(s3 + at, a3 * sc); Avx.Store(s3 + at + 8, b3 * sc); }
        }
        if (tile < tiles)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            var key = keyTiles + (long)tile * tileSize;
            for (var j = 0; j < headDim; j++, key += 8)
            {
                var k0 = Avx.LoadVector256(key);
                a0 = Fma.MultiplyAdd(Vector256.Create(q0[j]), k0, a0);
                if (n > 1) a1 = Fma.MultiplyAdd(Vector256.Create(q1[j]), k0, a1);
                if (n > 2) a2 = Fma.MultiplyAdd(Vector256.Create(q2[j]), k0, a2);
                if (n > 3) a3 = Fma.MultiplyAdd(Vector256.Create(q3[j]), k0, a3);
            }
            var at = tile * 8;
            Avx.Store(s0 + at, a0 * sc);
            if (n > 1) Avx.Store(s1 + at, a1 * sc);
            if (n > 2) Avx.Store(s2 + at, a2 * sc);
            if (n > 3) Avx.Store(s3 + at, a3 * sc);
        }

        var inverses = stackalloc float[QueryHeadsAtOnce];
        for (var i = 0; i < n; i++) inverses[i] = Softmax(scores[i], count, tiles * 8);

        // Output: each value row is loaded once for all the heads.
        var d0 = 0;
        for (; d0 + 16 <= headDim; d0 += 16)
        {
            Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default, p0 = default, p1 = default, p2 = default, p3 = default;
            var value = valueRows + d0;
            for (var t = 0; t < count; t++, value += headDim)
            {
                var (v0, v1) = (Avx.LoadVector256(value), Avx.LoadVector256(value + 8));
                var p = Vector256.Create(s0[t]); o0 = Fma.MultiplyAdd(p, v0, o0); p0 = Fma.MultiplyAdd(p, v1, p0);
                if (n > 1) { p = Vector256.Create(s1[t]); o1 = Fma.MultiplyAdd(p, v0, o1); p1 = Fma.MultiplyAdd(p, v1, p1); }
                if (n > 2) { p = Vector256.Create(s2[t]); o2 = Fma.MultiplyAdd(p, v0, o2); p2 = Fma.MultiplyAdd(p, v1, p2); }
                if (n > 3) { p = Vector256.Create(s3[t]); o3 = Fma.MultiplyAdd(p, v0, o3); p3 = Fma.MultiplyAdd(p, v1, p3); }
            }
            StoreScaled(outputs[0] + d0, o0, p0, inverses[0]);
            if (n > 1) StoreScaled(outputs[1] + d0, o1, p1, inverses[1]);
            if (n > 2) StoreScaled(outputs[2] + d0, o2, p2, inverses[2]);
            if (n > 3) StoreScaled(outputs[3] + d0, o3, p3, inverses[3]);
        }
        for (; d0 < headDim; d0++) // head dims not a multiple of 16
        {
            for (var i = 0; i < n; i++)
            {
                var o = 0f;
                for (var t = 0; t < count; t++) o += scores[i][t] * valueRows[(long)t * headDim + d0];
                outputs[i][d0] = o * inverses[i];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreScaled(float* output, Vector256<float> low, Vector256<float> high, float norm)
    {
        Avx.Store(output, low * Vector256.Create(norm));
        Avx.Store(output + 8, high * Vector256.Create(norm));
    }

    /// <summary>scores[0, count) = exp(scores - max), zeros on to <paramref name="padded"/>; returns 1 / their sum.</summary>
    static float Softmax(float* scores, int count, int padded)
    {
        var t = 0;
        var maxes = Vector256.Create(float.NegativeInfinity);
        for (; t + 8 <= count; t += 8) maxes = Vector256.Max(maxes, Avx.LoadVector256(scores + t));
        var max = float.NegativeInfinity;
        for (var lane = 0; lane < 8; lane++) max = MathF.Max(max, maxes[lane]);
        for (; t < count; t++) max = MathF.Max(max, scores[t]);
        var sums = Vector256<float>.Zero;
        for (t = 0; t < padded; t += 8)
        {
            var e = Exp(Avx.LoadVector256(scores + t) - Vector256.Create(max));
            if (t + 8 > count) e = Avx.And(e, Vector256.LessThan(Vector256.Create(t) + Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle()); // zero past count
            Avx.Store(scores + t, e);
            sums += e;
        }
        return 1f / Vector256.Sum(sums);
    }

    /// <summary>gate = silu(gate) * up, 8 at a time: one scalar exp per element took ~0.25 ms of a batch-of-8 step.</summary>
    static void SwiGlu(float* gate, float* up, int n)
    {
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var g = Avx.LoadVector256(gate + i);
            Avx.Store(gate + i, g / (Vector256<float>.One + Exp(-g)) * Avx.LoadVector256(up + i));
        }
        for (; i < n; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>
    /// e^x for 8 floats within 1.2e-7 relative (about an ulp) on [-87.3, 88]; below, the smallest normal float's
    /// neighbourhood (~1.2e-38), above, e^88. x = n ln 2 + r with |r| &lt;= ln 2 / 2, e^r by a degree-7 polynomial (Cephes
    /// expf's coefficients), times 2^n through the exponent bits. Vector256.Exp measured ~4.5 ns an element here against
    /// ~0.45: the softmax and SwiGLU exponentials were ~0.1 ms of a batch-of-8 step.
    /// </summary>
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        x = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504088896341f)); // x / ln 2
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(0.693359375f), x); // ln 2 in two parts: r stays exact
        r = Fma.MultiplyAddNegated(n, Vector256.Create(-2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Fma.MultiplyAdd(p * r, r, r + Vector256<float>.One);
        var twoToN = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return p * twoToN.AsSingle();
    }

    void RmsNorm(float* input, float* weight, float* output)
    {
        var r = 1f / MathF.Sqrt(Dot(input, input, d) / d + eps);
        var i = 0;
        for (; i + 8 <= d; i += 8) Avx.Store(output + i, Avx.LoadVector256(weight + i) * (Avx.LoadVector256(input + i) * Vector256.Create(r)));
        for (; i < d; i++) output[i] = weight[i] * (input[i] * r);
    }

    // ---- matrix-vector products, rows split across the torch thread budget ----

    void Run(MatVec[] products)
    {
        job = products;
        jobRows = 0;
        foreach (var p in products) jobRows += p.Rows;
        if (threads == 1) RunChunk(0);
        else Parallel.For(0, threads, parallel, runChunk);
    }

    /// <summary>Chunk <paramref name="index"/> of the rows of all products in the job (chunks are multiples of 8 rows).</summary>
    void RunChunk(int index)
    {
        var per = (jobRows / threads + 7) & ~7;
        var (start, end) = (Math.Min(jobRows, index * per), index == threads - 1 ? jobRows : Math.Min(jobRows, (index + 1) * per));
        var offset = 0;
        foreach (var p in job)
        {
            var (from, to) = (Math.Max(start - offset, 0), Math.Min(end - offset, p.Rows));
            if (from < to) Rows((float*)p.W, (float*)p.B, (float*)p.X, (float*)p.Y, from, to, p.Rows, p.Cols, p.Count);
            offset += p.Rows;
        }
    }

    /// <summary>
    /// y[t, r] = w[r, :] . x[t, :] (+ b[r]) for rows [r0, r1). One token (single stream) is bound by reading the weights:
    /// one row at a time, a single sequential stream, measured ~1.5x faster than four rows sharing each load of x.
    /// Eight tokens (batch, prefill) need the FMAs and the weight stream both: with AVX-512, three rows against all eight
    /// token slots keep 24 FMA chains and read each row once (pairs for what is left). With the weights streaming from
    /// memory (the small preset's 38 MB does not stay in cache), three rows measured 5-15% faster than pairs. Every
    /// (row, token) sum is computed the same way whichever kernel takes its row, so a row split across threads gives the same bits.
    /// </summary>
    static void Rows(float* w, float* b, float* x, float* y, int r0, int r1, int rows, int cols, int count)
    {
        if (count > 1 && Avx512F.IsSupported)
        {
            var r = r0;
            for (; r + 3 <= r1; r += 3) Dot3x8(w + (long)r * cols, x, cols, y + r, rows, count, b == null ? null : b + r);
            for (; r + 2 <= r1; r += 2) Dot2x8(w + (long)r * cols, x, cols, y + r, rows, count, b == null ? null : b + r);
            if (r < r1) Dot1x8(w + (long)r * cols, x, cols, y + r, rows, count, b == null ? 0f : b[r]);
            return;
        }
        for (var r = r0; r < r1; r++)
        {
            var row = w + (long)r * cols;
            var bias = b != null ? b[r] : 0f;
            var t = 0;
            for (; t + 4 <= count; t += 4) Dot4(row, x + (long)t * cols, cols, y + (long)t * rows + r, rows, bias);
            for (; t < count; t++) y[(long)t * rows + r] = Dot(row, x + (long)t * cols, cols) + bias;
        }
    }

    /// <summary>Rows ahead that <see cref="Dot2x8"/> prefetches: two pairs; without it the hardware prefetcher left the FMAs waiting on memory (~2x slower).</summary>
    const int PrefetchRows = 4;

    /// <summary>
    /// Rows w[0..1] (stride cols) against the eight token slots x[0..7] (stride cols); y[t * yStride + r] for t &lt; count.
    /// Slots from count on hold earlier tokens (or zeros): computed and dropped, cheaper than a kernel per count.
    /// 10 loads feed 16 FMAs; measured ~25% faster than 4 rows x 4 tokens, which reads each row twice.
    /// </summary>
    static void Dot2x8(float* w, float* x, int cols, float* y, int yStride, int count, float* bias)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        float* w1 = w + cols, ahead = w + PrefetchRows * cols;
        var c = 0;
        for (; c + 16 <= cols; c += 16)
        {
            Sse.Prefetch0(ahead + c);
            Sse.Prefetch0(ahead + cols + c);
            var (v0, v1) = (Avx512F.LoadVector512(w + c), Avx512F.LoadVector512(w1 + c));
            var xc = x + c;
            var u = Avx512F.LoadVector512(xc); a0 = Avx512F.FusedMultiplyAdd(v0, u, a0); b0 = Avx512F.FusedMultiplyAdd(v1, u, b0);
            u = Avx512F.LoadVector512(xc + cols); a1 = Avx512F.FusedMultiplyAdd(v0, u, a1); b1 = Avx512F.FusedMultiplyAdd(v1, u, b1);
            u = Avx512F.LoadVector512(xc + 2 * cols); a2 = Avx512F.FusedMultiplyAdd(v0, u, a2); b2 = Avx512F.FusedMultiplyAdd(v1, u, b2);
            u = Avx512F.LoadVector512(xc + 3 * cols); a3 = Avx512F.FusedMultiplyAdd(v0, u, a3); b3 = Avx512F.FusedMultiplyAdd(v1, u, b3);
            u = Avx512F.LoadVector512(xc + 4 * cols); a4 = Avx512F.FusedMultiplyAdd(v0, u, a4); b4 = Avx512F.FusedMultiplyAdd(v1, u, b4);
            u = Avx512F.LoadVector512(xc + 5 * cols); a5 = Avx512F.FusedMultiplyAdd(v0, u, a5); b5 = Avx512F.FusedMultiplyAdd(v1, u, b5);
            u = Avx512F.LoadVector512(xc + 6 * cols); a6 = Avx512F.FusedMultiplyAdd(v0, u, a6); b6 = Avx512F.FusedMultiplyAdd(v1, u, b6);
            u = Avx512F.LoadVector512(xc + 7 * cols); a7 = Avx512F.FusedMultiplyAdd(v0, u, a7); b7 = Avx512F.FusedMultiplyAdd(v1, u, b7);
        }
        Store8(Sum4(a0, a1, a2, a3), Sum4(a4, a5, a6, a7), w, x, c, cols, y, yStride, count, bias == null ? 0f : bias[0]);
        Store8(Sum4(b0, b1, b2, b3), Sum4(b4, b5, b6, b7), w1, x, c, cols, y + 1, yStride, count, bias == null ? 0f : bias[1]);
    }

    /// <summary>
    /// Rows w[0..2] against the eight token slots: 24 FMA chains from 11 loads, the most the 32 vector registers hold
    /// (24 sums, 3 rows, 1 token vector). Each row is summed exactly as in <see cref="Dot2x8"/>.
    /// </summary>
    static void Dot3x8(float* w, float* x, int cols, float* y, int yStride, int count, float* bias)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        Vector512<float> e0 = default, e1 = default, e2 = default, e3 = default, e4 = default, e5 = default, e6 = default, e7 = default;
        float* w1 = w + cols, w2 = w + 2 * cols, ahead = w + 6 * cols; // two blocks ahead
        var c = 0;
        for (; c + 16 <= cols; c += 16)
        {
            Sse.Prefetch0(ahead + c);
            Sse.Prefetch0(ahead + cols + c);
            Sse.Prefetch0(ahead + 2 * cols + c);
            var (v0, v1, v2) = (Avx512F.LoadVector512(w + c), Avx512F.LoadVector512(w1 + c), Avx512F.LoadVector512(w2 + c));
            var xc = x + c;
            var u = Avx512F.LoadVector512(xc); a0 = Avx512F.FusedMultiplyAdd(v0, u, a0); b0 = Avx512F.FusedMultiplyAdd(v1, u, b0); e0 = Avx512F.FusedMultiplyAdd(v2, u, e0);
            u = Avx512F.LoadVector512(xc + cols); a1 = Avx512F.FusedMultiplyAdd(v0, u, a1); b1 = Avx512F.FusedMultiplyAdd(v1, u, b1); e1 = Avx512F.FusedMultiplyAdd(v2, u, e1);
            u = Avx512F.LoadVector512(xc + 2 * cols); a2 = Avx512F.FusedMultiplyAdd(v0, u, a2); b2 = Avx512F.FusedMultiplyAdd(v1, u, b2); e2 = Avx512F.FusedMultiplyAdd(v2, u, e2);
            u = Avx512F.LoadVector512(xc + 3 * cols); a3 = Avx512F.FusedMultiplyAdd(v0, u, a3); b3 = Avx512F.FusedMultiplyAdd(v1, u, b3); e3 = Avx512F.FusedMultiplyAdd(v2, u, e3);
            u = Avx512F.LoadVector512(xc + 4 * cols); a4 = Avx512F.FusedMultiplyAdd(v0, u, a4); b4 = Avx512F.FusedMultiplyAdd(v1, u, b4); e4 = Avx512F.FusedMultiplyAdd(v2, u, e4);
            u = Avx512F.LoadVector512(xc + 5 * cols); a5 = Avx512F.FusedMultiplyAdd(v0, u, a5); b5 = Avx512F.FusedMultiplyAdd(v1, u, b5); e5 = Avx512F.FusedMultiplyAdd(v2, u, e5);
            u = Avx512F.LoadVector512(xc + 6 * cols); a6 = Avx512F.FusedMultiplyAdd(v0, u, a6); b6 = Avx512F.FusedMultiplyAdd(v1, u, b6); e6 = Avx512F.FusedMultiplyAdd(v2, u, e6);
            u = Avx512F.LoadVector512(xc + 7 * cols); a7 = Avx512F.FusedMultiplyAdd(v0, u, a7); b7 = Avx512F.FusedMultiplyAdd(v1, u, b7); e7 = Avx512F.FusedMultiplyAdd(v2, u, e7);
        }
        Store8(Sum4(a0, a1, a2, a3), Sum4(a4, a5, a6, a7), w, x, c, cols, y, yStride, count, bias == null ? 0f : bias[0]);
        Store8(Sum4(b0, b1, b2, b3), Sum4(b4, b5, b6, b7), w1, x, c, cols, y + 1, yStride, count, bias == null ? 0f : bias[1]);
        Store8(Sum4(e0, e1, e2, e3), Sum4(e4, e5, e6, e7), w2, x, c, cols, y + 2, yStride, count, bias == null ? 0f : bias[2]);
    }

    /// <summary>One row against the eight token slots, summed exactly as a row of <see cref="Dot2x8"/> (an odd row left over).</summary>
    static void Dot1x8(float* w, float* x, int cols, float* y, int yStride, int count, float bias)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        var c = 0;
        for (; c + 16 <= cols; c += 16)
        {
            var v = Avx512F.LoadVector512(w + c);
            var xc = x + c;
            a0 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc), a0);
            a1 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + cols), a1);
            a2 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 2 * cols), a2);
            a3 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 3 * cols), a3);
            a4 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 4 * cols), a4);
            a5 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 5 * cols), a5);
            a6 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 6 * cols), a6);
            a7 = Avx512F.FusedMultiplyAdd(v, Avx512F.LoadVector512(xc + 7 * cols), a7);
        }
        Store8(Sum4(a0, a1, a2, a3), Sum4(a4, a5, a6, a7), w, x, c, cols, y, yStride, count, bias);
    }

    /// <summary>One row's sums for token slots 0..3 and 4..7, plus the columns from <paramref name="c"/> on (cols not a multiple of 16), plus the bias; y[t * yStride] for t &lt; count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store8(Vector128<float> low, Vector128<float> high, float* w, float* x, int c, int cols, float* y, int yStride, int count, float bias)
    {
        for (var t = 0; t < count; t++)
        {
            var sum = t < 4 ? low.GetElement(t) : high.GetElement(t - 4);
            for (var j = c; j < cols; j++) sum += w[j] * x[(long)t * cols + j];
            y[(long)t * yStride] = sum + bias;
        }
    }

    /// <summary>
    /// [sum a0, sum a1, sum a2, sum a3] by a transposing tree: 14 shuffles and adds for the four, where Vector512.Sum takes ~25 each.
    /// Each input is summed the same way whichever slot it takes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<float> Sum4(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        // 128-bit quarters q0..q3: [a0 q0+q2, a0 q1+q3, a1 q0+q2, a1 q1+q3], the same for a2, a3.
        var b01 = Avx512F.Shuffle4x128(a0, a1, 0b01_00_01_00) + Avx512F.Shuffle4x128(a0, a1, 0b11_10_11_10);
        var b23 = Avx512F.Shuffle4x128(a2, a3, 0b01_00_01_00) + Avx512F.Shuffle4x128(a2, a3, 0b11_10_11_10);
        // Quarter i: a_i's four partial sums.
        var c = Avx512F.Shuffle4x128(b01, b23, 0b10_00_10_00) + Avx512F.Shuffle4x128(b01, b23, 0b11_01_11_01);
        c += Avx512F.Permute4x32(c, 0b10_11_00_01); // pairs
        c += Avx512F.Permute4x32(c, 0b01_00_11_10); // halves: every element of quarter i holds sum a_i
        return Avx512F.PermuteVar16x32(c, Vector512.Create(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)).GetLower().GetLower();
    }

    /// <summary>AVX2 (no AVX-512): one weight row against four consecutive token vectors x[0..3] (stride cols); results at y[i * yStride].</summary>
    static void Dot4(float* w, float* x, int cols, float* y, int yStride, float bias)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var c = 0;
        for (; c + 8 <= cols; c += 8)
        {
            var wv = Avx.LoadVector256(w + c);
            a0 = Fma.MultiplyAdd(wv, Avx.LoadVector256(x + c), a0);
            a1 = Fma.MultiplyAdd(wv, Avx.LoadVector256(x + cols + c), a1);
            a2 = Fma.MultiplyAdd(wv, Avx.LoadVector256(x + 2 * cols + c), a2);
            a3 = Fma.MultiplyAdd(wv, Avx.LoadVector256(x + 3 * cols + c), a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; c < cols; c++)
        {
            s0 += w[c] * x[c]; s1 += w[c] * x[cols + c]; s2 += w[c] * x[2 * cols + c]; s3 += w[c] * x[3 * cols + c];
        }
        y[0] = s0 + bias; y[yStride] = s1 + bias; y[2 * yStride] = s2 + bias; y[3 * yStride] = s3 + bias;
    }

    /// <summary>a . b with four independent FMA chains.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* a, float* b, int n)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        var i = 0;
        for (; i + 32 <= n; i += 32)
        {
            acc0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), acc0);
            acc1 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 8), Avx.LoadVector256(b + i + 8), acc1);
            acc2 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 16), Avx.LoadVector256(b + i + 16), acc2);
            acc3 = Fma.MultiplyAdd(Avx.LoadVector256(a + i + 24), Avx.LoadVector256(b + i + 24), acc3);
        }
        for (; i + 8 <= n; i += 8) acc0 = Fma.MultiplyAdd(Avx.LoadVector256(a + i), Avx.LoadVector256(b + i), acc0);
        var sum = Vector256.Sum((acc0 + acc1) + (acc2 + acc3));
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    static void Add(float* y, float* x, int n)
    {
        var i = 0;
        for (; i + 8 <= n; i += 8) Avx.Store(y + i, Avx.LoadVector256(y + i) + Avx.LoadVector256(x + i));
        for (; i < n; i++) y[i] += x[i];
    }

    // ---- memory ----

    // Pinned managed arrays rather than native memory: a generation abandoned without Dispose still frees them.
    // Disposed decoders hand them on to the next through the pool.
    readonly List<float[]> buffers = [];

    float* Alloc(long count)
    {
        var buffer = PinnedFloatPool.Rent(checked((int)(count + 15)));
        buffers.Add(buffer);
        var start = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (float*)((start + 63) & ~(nint)63); // cache-line aligned: a 64-byte load across two lines made the batch GEMVs ~20% slower
    }

    /// <summary>The tensor's own CPU memory (no copy): <see cref="Tensor.bytes"/> spans the native storage.</summary>
    static float* DataPointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    public void Dispose()
    {
        foreach (var buffer in buffers) PinnedFloatPool.Return(buffer);
        buffers.Clear(); // the pointers into them are dead from here on: Forward checks
        GC.KeepAlive(parameters);
    }

    // ---- eligibility ----

    static readonly string[] HookFields = ["pre_hooks", "post_hooks", "module_pre_hooks", "module_post_hooks"];
    static readonly ConcurrentDictionary<Type, FieldInfo[]> HookFieldsByType = new();

    /// <summary>
    /// True when any module has a forward (pre-)hook (LoRA attaches there): this path would skip them.
    /// TorchSharp keeps hooks in protected dictionaries; if they cannot be found, assume hooks (the safe answer).
    /// </summary>
    internal static bool HasForwardHooks(nn.Module model)
    {
        foreach (var module in model.modules().Prepend(model))
        {
            var fields = HookFieldsByType.GetOrAdd(module.GetType(), HookFieldsOf);
            if (fields.Length == 0 && module is nn.Module<Tensor, Tensor>) return true;
            foreach (var field in fields)
                if (field.GetValue(module) is ICollection { Count: > 0 }) return true;
        }
        return false;
    }

    static FieldInfo[] HookFieldsOf(Type type)
    {
        var fields = new List<FieldInfo>();
        for (var t = type; t is not null; t = t.BaseType)
            foreach (var name in HookFields)
                if (t.GetField(name, BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.DeclaredOnly) is FieldInfo field) fields.Add(field);
        return fields.ToArray();
    }
}
