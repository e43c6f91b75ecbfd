using System.Text.Json;
using System.Text.RegularExpressions;
using Assistant.Platform.Models;
using Assistant.TrainingApi.Apis;

namespace Assistant.TrainingApi.Registry;

/// <summary>
/// Imports a Hugging Face model folder as a base model: checks it is one the platform can load (config.json with a
/// supported model_type, safetensors weights and their index complete, a tokenizer), counts its parameters from the
/// safetensors headers, uploads it under a fresh prefix and registers it. Problems name the file at fault.
/// </summary>
public sealed partial class ModelImporter(ModelRegistry registry)
{
    public async Task<ModelVersion> ImportAsync(string folder, string name, string? description, string createdBy, string folderField, CancellationToken ct)
    {
        if (!ModelRegistry.IsValidName(name))
        {
            throw ApiProblem.Invalid("name", $"'{name}' is not a model name: use {ModelRegistry.NameRule}.");
        }
        if (description is { Length: > 2000 })
        {
            throw ApiProblem.Invalid("description", "The description is longer than 2000 characters.");
        }
        HfFolder info;
        try
        {
            info = HfFolder.Read(folder);
        }
        catch (InvalidDataException ex)
        {
            throw ApiProblem.Invalid(folderField, ex.Message);
        }
        if (!HfFolder.SupportedArchitectures.Contains(info.Architecture))
        {
            throw ApiProblem.Invalid($"{HfFolder.ConfigFile}.model_type",
                $"model_type '{info.Architecture}' is not one the platform can load: {string.Join(", ", HfFolder.SupportedArchitectures)}.");
        }
        CheckShards(folder, folderField);
        if (!HasTokenizer(folder))
        {
            throw ApiProblem.Invalid(folderField, "The folder has no tokenizer: tokenizer.json, vocab.json with merges.txt, or tokenizer.model.");
        }

        return await registry.RegisterBaseFolderAsync(folder, info, name, "import", description, createdBy, ct);
    }

    /// <summary>A file name an upload may carry: no directories, nothing hidden.</summary>
    public static bool IsSafeFileName(string name) => SafeFileName().IsMatch(name) && name is not ("." or "..");

    /// <summary>Every shard the index maps a tensor to must be in the folder.</summary>
    private static void CheckShards(string folder, string field)
    {
        var index = Path.Combine(folder, HfFolder.IndexFile);
        if (!File.Exists(index))
        {
            return;
        }
        try
        {
            using var json = JsonDocument.Parse(File.ReadAllBytes(index));
            var shards = json.RootElement.GetProperty("weight_map").EnumerateObject().Select(p => p.Value.GetString()!).Distinct();
            if (shards.FirstOrDefault(shard => !IsSafeFileName(shard) || !File.Exists(Path.Combine(folder, shard))) is { } missing)
            {
                throw ApiProblem.Invalid(field, $"{HfFolder.IndexFile} names shard '{missing}', which is not in the folder.");
            }
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw ApiProblem.Invalid(field, $"{HfFolder.IndexFile} is not a valid safetensors index: {ex.Message}");
        }
    }

    private static bool HasTokenizer(string folder)
    {
        bool Has(string file) => File.Exists(Path.Combine(folder, file));
        return Has("tokenizer.json") || (Has("vocab.json") && Has("merges.txt")) || Has("tokenizer.model");
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
    private static partial Regex SafeFileName();
}
