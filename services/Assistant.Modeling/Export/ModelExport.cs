using System.Text.Json;
using System.Text.Json.Nodes;

namespace Assistant.Modeling.Export;

/// <summary>What <see cref="ModelExport.Export"/> writes: an HF folder (safetensors) or one GGUF file for llama.cpp.</summary>
public enum ExportFormat { Hf, Gguf }

/// <summary>Element type of the exported weights (GGUF keeps norms and biases in F32 whatever is chosen).</summary>
public enum ExportDType { F32, F16, BF16 }

/// <summary>Where an export went and what it holds.</summary>
public sealed record ExportResult(string Path, ExportFormat Format, ExportDType DType, long Bytes);

/// <summary>Exports an HF model folder (the CLI's <c>export</c> command).</summary>
public static class ModelExport
{
    /// <summary>
    /// Exports the model in <paramref name="modelFolder"/>. <see cref="ExportFormat.Hf"/>: a model folder at
    /// <paramref name="outPath"/> (tokenizer and other files copied). <see cref="ExportFormat.Gguf"/>: one GGUF
    /// file at <paramref name="outPath"/> (or <c>&lt;name&gt;-&lt;dtype&gt;.gguf</c> inside it when it is a folder)
    /// with the tokenizer embedded; llama models only.
    /// </summary>
    /// <exception cref="ModelFormatException">The folder cannot be exported as asked (the message says why).</exception>
    public static ExportResult Export(string modelFolder, ExportFormat format, string outPath, ExportDType dtype = ExportDType.F32)
    {
        if (!Directory.Exists(modelFolder)) throw new DirectoryNotFoundException($"Model folder '{modelFolder}' does not exist.");
        return format switch
        {
            ExportFormat.Hf => ExportHf(modelFolder, outPath, dtype),
            ExportFormat.Gguf => ExportGguf(modelFolder, outPath, dtype),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    /// <summary>Parses <c>hf</c> or <c>gguf</c> (case-insensitive).</summary>
    public static ExportFormat ParseFormat(string text) => text.ToLowerInvariant() switch
    {
        "hf" => ExportFormat.Hf,
        "gguf" => ExportFormat.Gguf,
        _ => throw new ArgumentException($"Unknown export format '{text}'; use hf or gguf.", nameof(text)),
    };

    /// <summary>Parses <c>f32</c>, <c>f16</c> or <c>bf16</c> (case-insensitive; <c>float32</c>, <c>float16</c>, <c>bfloat16</c> too).</summary>
    public static ExportDType ParseDType(string text) => text.ToLowerInvariant() switch
    {
        "f32" or "float32" or "fp32" => ExportDType.F32,
        "f16" or "float16" or "fp16" => ExportDType.F16,
        "bf16" or "bfloat16" => ExportDType.BF16,
        _ => throw new ArgumentException($"Unknown dtype '{text}'; use f32, f16 or bf16.", nameof(text)),
    };

    static ExportResult ExportHf(string modelFolder, string outPath, ExportDType dtype)
    {
        using var model = HfCheckpoint.Load(modelFolder);
        var safetensorsType = dtype switch { ExportDType.F16 => SafetensorsDType.F16, ExportDType.BF16 => SafetensorsDType.BF16, _ => SafetensorsDType.F32 };
        HfCheckpoint.Save(model, outPath, new HfSaveOptions { DType = safetensorsType });
        var target = Path.GetFullPath(outPath);
        var bytes = Directory.EnumerateFiles(target, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        return new ExportResult(target, ExportFormat.Hf, dtype, bytes);
    }

    static ExportResult ExportGguf(string modelFolder, string outPath, ExportDType dtype)
    {
        var modelType = ReadModelType(modelFolder);
        if (modelType != "llama")
            throw new ModelFormatException(
                $"GGUF export supports only llama models (model_type 'llama', LlamaForCausalLM); '{modelFolder}' has model_type '{modelType}'. Export it with format hf instead.");
        var config = ModelConfig.Load(modelFolder);
        var vocabulary = GgufVocabulary.FromModelFolder(modelFolder, config); // before the weights: a tokenizer problem fails fast

        var name = new DirectoryInfo(Path.GetFullPath(modelFolder)).Name;
        var target = Path.GetFullPath(Directory.Exists(outPath) ? Path.Combine(outPath, $"{name}-{dtype.ToString().ToLowerInvariant()}.gguf") : outPath);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        using var model = HfCheckpoint.Load(modelFolder);
        var weightType = dtype switch { ExportDType.F16 => GgmlType.F16, ExportDType.BF16 => GgmlType.BF16, _ => GgmlType.F32 };
        LlamaGguf.Write(model, vocabulary, target, weightType, name);
        return new ExportResult(target, ExportFormat.Gguf, dtype, new FileInfo(target).Length);
    }

    static string ReadModelType(string folder)
    {
        var path = Path.Combine(folder, HfCheckpoint.ConfigFile);
        if (!File.Exists(path)) throw new ModelFormatException($"No config.json in '{folder}': an HF model folder needs config.json next to its weights.");
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?["model_type"]?.GetValue<string>()
                ?? throw new ModelFormatException($"'{path}' has no 'model_type'.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new ModelFormatException($"'{path}' is not a valid config.json: {e.Message}", e);
        }
    }
}
