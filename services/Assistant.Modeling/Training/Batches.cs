using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Training;

/// <summary>
/// One row of a batch: inputs and next-token targets (-100 = no loss), and the lengths of the examples
/// packed into it (one segment unless packing).
/// </summary>
public sealed record BatchRow(int[] Inputs, int[] Targets, int[] SegmentLengths)
{
    public int Length => Inputs.Length;

    public static BatchRow From(TokenSequence sequence)
    {
        var n = sequence.Ids.Length - 1;
        var targets = new int[n];
        for (var i = 0; i < n; i++) targets[i] = sequence.Trained[i + 1] ? sequence.Ids[i + 1] : Batch.IgnoreIndex;
        return new BatchRow(sequence.Ids[..n], targets, [n]);
    }

    /// <summary>Rows concatenated; each keeps its own positions and sees only itself.</summary>
    public static BatchRow Pack(IReadOnlyList<BatchRow> rows) => new(
        rows.SelectMany(r => r.Inputs).ToArray(),
        rows.SelectMany(r => r.Targets).ToArray(),
        rows.SelectMany(r => r.SegmentLengths).ToArray());
}

/// <summary>A micro-batch on the host: rows right-padded to a multiple of 8 tokens.</summary>
public sealed class Batch
{
    public const int IgnoreIndex = -100;

    public int Rows { get; }
    public int Length { get; }
    public long[] InputIds { get; }
    public long[] Targets { get; }
    public long[] Positions { get; }
    /// <summary>Segment index per token ([rows * length]); null when every row holds one example (causal attention suffices).</summary>
    public long[]? Segments { get; }
    /// <summary>Tokens whose prediction carries loss.</summary>
    public int LossTokens { get; }
    /// <summary>Tokens that are not padding.</summary>
    public int RealTokens { get; }

    public Batch(IReadOnlyList<BatchRow> rows, int padId)
    {
        Rows = rows.Count;
        Length = (rows.Max(r => r.Length) + 7) / 8 * 8;
        InputIds = new long[Rows * Length];
        Targets = new long[Rows * Length];
        Positions = new long[Rows * Length];
        var packed = rows.Any(r => r.SegmentLengths.Length > 1);
        Segments = packed ? new long[Rows * Length] : null;
        Array.Fill(InputIds, padId);
        Array.Fill(Targets, IgnoreIndex);
        if (Segments is not null) Array.Fill(Segments, -1); // padding: a segment of its own, so no row of the mask is empty
        for (var r = 0; r < Rows; r++)
        {
            var row = rows[r];
            var offset = r * Length;
            var i = 0;
            for (var s = 0; s < row.SegmentLengths.Length; s++)
            {
                for (var p = 0; p < row.SegmentLengths[s]; p++, i++)
                {
                    InputIds[offset + i] = row.Inputs[i];
                    Targets[offset + i] = row.Targets[i];
                    Positions[offset + i] = p;
                    if (Segments is not null) Segments[offset + i] = s;
                    if (row.Targets[i] != IgnoreIndex) LossTokens++;
                }
            }
            RealTokens += row.Length;
        }
    }

    /// <summary>Ids, targets, positions [rows, length] and, for packed rows, the block-diagonal causal mask [rows, length, length].</summary>
    public (Tensor Ids, Tensor Targets, Tensor Positions, Tensor? Mask) ToTensors(Device device)
    {
        var ids = tensor(InputIds, [Rows, Length], device: device);
        var targets = tensor(Targets, [Rows, Length], device: device);
        var positions = tensor(Positions, [Rows, Length], device: device);
        Tensor? mask = null;
        if (Segments is not null)
        {
            var segments = tensor(Segments, [Rows, Length], device: device);
            var causal = ones(Length, Length, ScalarType.Bool, device).tril();
            mask = segments.unsqueeze(2).eq(segments.unsqueeze(1)).logical_and(causal);
        }
        return (ids, targets, positions, mask);
    }
}

/// <summary>
/// The order micro-batches come in: rows are built once (packed greedily when asked), then shuffled per
/// epoch from the seed, so micro-batch <c>g</c> is a pure function of (data, seed, g) and resuming needs
/// only the cursor.
/// </summary>
public sealed class BatchSchedule
{
    readonly IReadOnlyList<BatchRow> rows;
    readonly int batchSize, padId;
    readonly long seed;
    readonly bool shuffle;
    int cachedEpoch = -1;
    int[] order = [];

    public BatchSchedule(IReadOnlyList<TokenSequence> sequences, int batchSize, int maxLength, bool packing, int padId, long seed, bool shuffle)
    {
        if (sequences.Count == 0) throw new TrainingDataException("No sequence of two or more tokens to train on.");
        var single = sequences.Select(BatchRow.From).ToList();
        if (packing)
        {
            // Packing order is drawn once from the seed, so rows mix examples of different lengths.
            var packOrder = Enumerable.Range(0, single.Count).ToArray();
            SplitMix64.Shuffle(packOrder, seed ^ 0x5eed);
            var packed = new List<BatchRow>();
            var current = new List<BatchRow>();
            var used = 0;
            foreach (var index in packOrder)
            {
                var row = single[index];
                if (used + row.Length > maxLength && current.Count > 0) { packed.Add(BatchRow.Pack(current)); current.Clear(); used = 0; }
                current.Add(row);
                used += row.Length;
            }
            if (current.Count > 0) packed.Add(BatchRow.Pack(current));
            rows = packed;
        }
        else rows = single;
        (this.batchSize, this.padId, this.seed, this.shuffle) = (batchSize, padId, seed, shuffle);
    }

    public int RowCount => rows.Count;
    public int BatchesPerEpoch => (rows.Count + batchSize - 1) / batchSize;
    public long TotalTokens => rows.Sum(r => (long)r.Length);

    /// <summary>Micro-batch number <paramref name="index"/> counted from the start of training.</summary>
    public Batch Get(long index)
    {
        var epoch = (int)(index / BatchesPerEpoch);
        var within = (int)(index % BatchesPerEpoch);
        if (epoch != cachedEpoch)
        {
            order = Enumerable.Range(0, rows.Count).ToArray();
            if (shuffle) SplitMix64.Shuffle(order, seed * 1_000_003L + epoch);
            cachedEpoch = epoch;
        }
        var start = within * batchSize;
        var count = Math.Min(batchSize, rows.Count - start);
        return new Batch(Enumerable.Range(start, count).Select(i => rows[order[i]]).ToArray(), padId);
    }
}

/// <summary>A small, fixed PRNG: data order must not depend on the runtime's Random implementation.</summary>
public static class SplitMix64
{
    public static void Shuffle(int[] items, long seed)
    {
        var state = unchecked((ulong)seed);
        for (var i = items.Length - 1; i > 0; i--)
        {
            var j = (int)(Next(ref state) % (ulong)(i + 1));
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    static ulong Next(ref ulong state)
    {
        var z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
