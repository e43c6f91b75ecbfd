using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>Element types a checkpoint can be written in; weights are always fp32 in memory on CPU.</summary>
public enum SafetensorsDType { F32, BF16, F16 }

/// <summary>
/// The safetensors format: 8-byte little-endian header length, a JSON header naming each tensor's
/// dtype, shape and byte range, then the raw bytes. Written with names in ordinal order so the
/// same tensors always give the same file; read with F32, BF16, F16 and F64 converted to fp32.
/// </summary>
public static class Safetensors
{
    /// <summary>One tensor's header entry; offsets are relative to the end of the header.</summary>
    public sealed record Entry(string Name, string DType, long[] Shape, long Begin, long End);

    /// <summary>An open safetensors file whose tensors are read one at a time (whole checkpoints never sit in memory twice).</summary>
    public sealed class Reader : IDisposable
    {
        readonly FileStream stream;
        readonly long dataStart;
        public string Path { get; }
        public IReadOnlyDictionary<string, Entry> Entries { get; }
        public JsonObject? Metadata { get; }

        public Reader(string path)
        {
            Path = path;
            stream = File.OpenRead(path);
            try
            {
                Span<byte> lengthBytes = stackalloc byte[8];
                if (stream.Read(lengthBytes) != 8) throw Bad("shorter than its 8-byte header length");
                var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
                if (headerLength > (ulong)Math.Min(stream.Length - 8, 100_000_000)) throw Bad($"header length {headerLength} is beyond the file");
                var header = new byte[headerLength];
                stream.ReadExactly(header);
                dataStart = 8 + (long)headerLength;
                var json = JsonNode.Parse(header) as JsonObject ?? throw Bad("header is not a JSON object");
                var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
                foreach (var (name, node) in json)
                {
                    if (name == "__metadata__") { Metadata = node as JsonObject; continue; }
                    var offsets = node!["data_offsets"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray();
                    var entry = new Entry(name, node["dtype"]!.GetValue<string>(),
                        node["shape"]!.AsArray().Select(n => n!.GetValue<long>()).ToArray(), offsets[0], offsets[1]);
                    if (entry.End < entry.Begin || dataStart + entry.End > stream.Length)
                        throw Bad($"tensor '{name}' has byte range [{entry.Begin}, {entry.End}) beyond the file");
                    entries[name] = entry;
                }
                Entries = entries;
            }
            catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException or EndOfStreamException)
            {
                stream.Dispose();
                throw Bad("header is malformed: " + e.Message, e);
            }
            catch
            {
                stream.Dispose();
                throw;
            }
        }

        /// <summary>Reads one tensor as a new fp32 CPU tensor.</summary>
        public Tensor Read(string name)
        {
            var entry = Entries.TryGetValue(name, out var e) ? e : throw Bad($"has no tensor '{name}'");
            var count = entry.Shape.Aggregate(1L, (a, b) => a * b);
            var size = ElementSize(entry);
            if (entry.End - entry.Begin != count * size)
                throw Bad($"tensor '{name}' holds {entry.End - entry.Begin} bytes, but {entry.DType} [{string.Join(", ", entry.Shape)}] needs {count * size}");
            var raw = new byte[entry.End - entry.Begin];
            stream.Position = dataStart + entry.Begin;
            stream.ReadExactly(raw);
            var result = empty(entry.Shape, ScalarType.Float32);
            if (count > 0) result.bytes = ToFloat32(raw, entry.DType);
            return result;
        }

        int ElementSize(Entry entry) => entry.DType switch
        {
            "F32" => 4,
            "BF16" or "F16" => 2,
            "F64" => 8,
            _ => throw Bad($"tensor '{entry.Name}' has dtype {entry.DType}; supported: F32, BF16, F16, F64"),
        };

        static byte[] ToFloat32(byte[] raw, string dtype)
        {
            switch (dtype)
            {
                case "F32":
                    return raw;
                case "BF16":
                    // bf16 is the top half of an fp32: widening is exact.
                    var widened = new byte[raw.Length * 2];
                    for (int i = 0, j = 0; i < raw.Length; i += 2, j += 4)
                    {
                        widened[j + 2] = raw[i];
                        widened[j + 3] = raw[i + 1];
                    }
                    return widened;
                case "F16":
                    var halves = MemoryMarshal.Cast<byte, Half>(raw);
                    var floats = new float[halves.Length];
                    for (var i = 0; i < halves.Length; i++) floats[i] = (float)halves[i];
                    return MemoryMarshal.AsBytes(floats.AsSpan()).ToArray();
                default: // F64
                    var doubles = MemoryMarshal.Cast<byte, double>(raw);
                    var narrowed = new float[doubles.Length];
                    for (var i = 0; i < doubles.Length; i++) narrowed[i] = (float)doubles[i];
                    return MemoryMarshal.AsBytes(narrowed.AsSpan()).ToArray();
            }
        }

        ModelFormatException Bad(string what, Exception? inner = null) => new($"Safetensors file '{Path}' {what}.", inner);

        public void Dispose() => stream.Dispose();
    }

    /// <summary>Reads every tensor of a file as fp32.</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using var reader = new Reader(path);
        return reader.Entries.Keys.ToDictionary(name => name, reader.Read, StringComparer.Ordinal);
    }

    /// <summary>Bytes a tensor takes when written as <paramref name="dtype"/>.</summary>
    public static long ByteSize(Tensor tensor, SafetensorsDType dtype) => tensor.numel() * (dtype == SafetensorsDType.F32 ? 4 : 2);

    /// <summary>
    /// Writes <paramref name="tensors"/> in ordinal name order with <c>{"format": "pt"}</c> metadata
    /// (transformers requires it); the header is space-padded to 8 bytes like the reference writer.
    /// </summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var ordered = tensors.OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
        var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            json.WriteString("format", "pt");
            json.WriteEndObject();
            long offset = 0;
            foreach (var (name, tensor) in ordered)
            {
                var size = ByteSize(tensor, dtype);
                json.WriteStartObject(name);
                json.WriteString("dtype", dtype.ToString());
                json.WriteStartArray("shape");
                foreach (var d in tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + size);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += size;
            }
            json.WriteEndObject();
        }
        while (header.Length % 8 != 0) header.WriteByte((byte)' ');

        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            file.Write(length);
            header.Position = 0;
            header.CopyTo(file);
            foreach (var (_, tensor) in ordered)
            {
                using var scope = NewDisposeScope();
                var data = tensor.detach().cpu().contiguous();
                data = dtype switch
                {
                    SafetensorsDType.BF16 => data.to(ScalarType.BFloat16),
                    SafetensorsDType.F16 => data.to(ScalarType.Float16),
                    _ => data.to(ScalarType.Float32),
                };
                if (data.numel() > 0) file.Write(data.bytes);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }
}
