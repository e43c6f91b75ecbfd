using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Export;

/// <summary>ggml tensor types this writer produces (ids from ggml's <c>ggml_type</c>).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    BF16 = 30,
}

/// <summary>
/// Writes a GGUF v3 file (ggml's <c>docs/gguf.md</c>): header, typed metadata, tensor infos, then the
/// tensor data, each tensor starting on a <see cref="Alignment"/>-byte boundary. Little-endian throughout.
/// Tensors are produced one at a time when the file is written, so a model is never copied whole.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>GGUF's default alignment; written as <c>general.alignment</c> too.</summary>
    public const int Alignment = 32;

    const uint Magic = 0x46554747; // "GGUF" read as a little-endian uint32
    const uint Version = 3;

    // gguf_type ids for metadata values.
    const uint UInt32Type = 4, Int32Type = 5, Float32Type = 6, BoolType = 7, StringType = 8, ArrayType = 9;

    // Rows are converted and written in slices of at most this many bytes (spans stop at 2 GiB).
    const long SliceBytes = 64L << 20;

    readonly List<(string Key, uint Type, Action<BinaryWriter> Write)> metadata = [];
    readonly List<PendingTensor> tensors = [];
    readonly HashSet<string> keys = new(StringComparer.Ordinal);
    readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);

    sealed record PendingTensor(string Name, long[] Shape, GgmlType Type, Func<Tensor> Data)
    {
        public long ByteSize => Shape.Aggregate(1L, (n, d) => n * d) * ElementSize(Type);
    }

    public GgufWriter() => AddUInt32("general.alignment", Alignment);

    public void AddString(string key, string value) => Add(key, StringType, w => WriteString(w, value));
    public void AddUInt32(string key, uint value) => Add(key, UInt32Type, w => w.Write(value));
    public void AddFloat32(string key, float value) => Add(key, Float32Type, w => w.Write(value));
    public void AddBool(string key, bool value) => Add(key, BoolType, w => w.Write(value));

    public void AddStringArray(string key, IReadOnlyList<string> values) =>
        AddArray(key, StringType, values.Count, w => { foreach (var v in values) WriteString(w, v); });

    public void AddFloat32Array(string key, IReadOnlyList<float> values) =>
        AddArray(key, Float32Type, values.Count, w => { foreach (var v in values) w.Write(v); });

    public void AddInt32Array(string key, IReadOnlyList<int> values) =>
        AddArray(key, Int32Type, values.Count, w => { foreach (var v in values) w.Write(v); });

    /// <summary>
    /// Adds a tensor of PyTorch <paramref name="shape"/> (row-major, outermost first; GGUF stores the
    /// dimensions innermost first). <paramref name="data"/> is called once, while the file is written,
    /// and must return a floating-point tensor of that shape; it is converted to <paramref name="type"/>.
    /// </summary>
    public void AddTensor(string name, long[] shape, GgmlType type, Func<Tensor> data)
    {
        if (!tensorNames.Add(name)) throw new ArgumentException($"Tensor '{name}' is already in the GGUF file.", nameof(name));
        if (shape.Length is < 1 or > 4) throw new ArgumentException($"Tensor '{name}' has {shape.Length} dimensions; GGUF allows 1 to 4.", nameof(shape));
        tensors.Add(new PendingTensor(name, shape, type, data));
    }

    /// <summary>Writes the file (through a temporary file, so a failed export leaves no half-written GGUF).</summary>
    public void WriteTo(string path)
    {
        var temporary = path + ".tmp";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            using (var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: false))
            {
                writer.Write(Magic);
                writer.Write(Version);
                writer.Write((ulong)tensors.Count);
                writer.Write((ulong)metadata.Count);
                foreach (var (key, type, write) in metadata)
                {
                    WriteString(writer, key);
                    writer.Write(type);
                    write(writer);
                }

                long offset = 0; // relative to the start of the data section
                foreach (var tensor in tensors)
                {
                    WriteString(writer, tensor.Name);
                    writer.Write((uint)tensor.Shape.Length);
                    foreach (var dim in tensor.Shape.Reverse()) writer.Write((ulong)dim);
                    writer.Write((uint)tensor.Type);
                    writer.Write((ulong)offset);
                    offset = Align(offset + tensor.ByteSize);
                }
                Pad(writer);

                foreach (var tensor in tensors)
                {
                    WriteData(writer, tensor);
                    Pad(writer);
                }
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    void Add(string key, uint type, Action<BinaryWriter> write)
    {
        if (!keys.Add(key)) throw new ArgumentException($"Metadata key '{key}' is already in the GGUF file.", nameof(key));
        metadata.Add((key, type, write));
    }

    void AddArray(string key, uint elementType, int count, Action<BinaryWriter> writeElements) =>
        Add(key, ArrayType, w =>
        {
            w.Write(elementType);
            w.Write((ulong)count);
            writeElements(w);
        });

    static void WriteData(BinaryWriter writer, PendingTensor pending)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tensor = pending.Data();
        if (!tensor.shape.SequenceEqual(pending.Shape))
            throw new InvalidOperationException(
                $"Tensor '{pending.Name}' was declared [{string.Join(", ", pending.Shape)}] but is [{string.Join(", ", tensor.shape)}].");
        var converted = tensor.to(TorchType(pending.Type), CPU).contiguous();
        var rowBytes = converted.numel() / pending.Shape[0] * ElementSize(pending.Type);
        var rowsPerSlice = Math.Max(1, SliceBytes / Math.Max(1, rowBytes));
        for (long row = 0; row < pending.Shape[0]; row += rowsPerSlice)
        {
            using var slice = converted.narrow(0, row, Math.Min(rowsPerSlice, pending.Shape[0] - row));
            writer.Write(slice.bytes);
        }
    }

    static ScalarType TorchType(GgmlType type) => type switch
    {
        GgmlType.F32 => torch.ScalarType.Float32,
        GgmlType.F16 => torch.ScalarType.Float16,
        GgmlType.BF16 => torch.ScalarType.BFloat16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    static long ElementSize(GgmlType type) => type == GgmlType.F32 ? 4 : 2;

    static long Align(long offset) => (offset + Alignment - 1) / Alignment * Alignment;

    static void Pad(BinaryWriter writer)
    {
        writer.Flush();
        var position = writer.BaseStream.Position;
        for (var i = position; i < Align(position); i++) writer.Write((byte)0);
    }

    static void WriteString(BinaryWriter writer, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        writer.Write((ulong)bytes.Length);
        writer.Write(bytes);
    }
}
