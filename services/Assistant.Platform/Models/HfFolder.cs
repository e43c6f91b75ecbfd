using System.Buffers.Binary;
using System.Text.Json;

namespace Assistant.Platform.Models;

/// <summary>
/// What the registry needs to know of a Hugging Face model folder without loading it: the architecture
/// (<c>config.json</c>'s <c>model_type</c>) and the parameter count, summed from the safetensors headers.
/// </summary>
public sealed record HfFolder(string Architecture, long Parameters)
{
    public const string ConfigFile = "config.json";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>The families the platform can load.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ["llama", "gpt2", "gpt_neox", "falcon", "bloom"];

    /// <summary>Reads <paramref name="folder"/>; a missing or malformed file is an <see cref="InvalidDataException"/> naming it.</summary>
    public static HfFolder Read(string folder)
    {
        var configPath = Path.Combine(folder, ConfigFile);
        if (!File.Exists(configPath)) throw new InvalidDataException($"{ConfigFile} is missing.");
        string architecture;
        try
        {
            using var config = JsonDocument.Parse(File.ReadAllBytes(configPath));
            architecture = config.RootElement.TryGetProperty("model_type", out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()!
                : throw new InvalidDataException($"{ConfigFile} has no model_type.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{ConfigFile} is not valid JSON: {e.Message}", e);
        }
        var weightFiles = Directory.EnumerateFiles(folder, "*.safetensors").Order(StringComparer.Ordinal).ToList();
        if (weightFiles.Count == 0) throw new InvalidDataException("No *.safetensors weights in the folder.");
        return new HfFolder(architecture, weightFiles.Sum(CountParameters));
    }

    /// <summary>Sums the element counts of the tensors a safetensors file declares in its header.</summary>
    public static long CountParameters(string safetensorsPath)
    {
        using var file = File.OpenRead(safetensorsPath);
        Span<byte> prefix = stackalloc byte[8];
        if (file.Read(prefix) != 8) throw new InvalidDataException($"{Path.GetFileName(safetensorsPath)} is too short to be safetensors.");
        var headerLength = BinaryPrimitives.ReadInt64LittleEndian(prefix);
        if (headerLength <= 0 || headerLength > 100_000_000 || headerLength > file.Length - 8)
            throw new InvalidDataException($"{Path.GetFileName(safetensorsPath)} has an invalid safetensors header length.");
        var header = new byte[headerLength];
        file.ReadExactly(header);
        try
        {
            using var json = JsonDocument.Parse(header);
            long total = 0;
            foreach (var tensor in json.RootElement.EnumerateObject())
            {
                if (tensor.Name == "__metadata__") continue;
                long count = 1;
                foreach (var dim in tensor.Value.GetProperty("shape").EnumerateArray()) count *= dim.GetInt64();
                total += count;
            }
            return total;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{Path.GetFileName(safetensorsPath)} has a malformed safetensors header: {e.Message}", e);
        }
    }
}
