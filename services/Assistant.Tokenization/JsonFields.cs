using System.Text.Json;

namespace Assistant.Tokenization;

/// <summary>Reading tokenizer JSON files with errors that name the missing field.</summary>
internal static class JsonFields
{
    public static JsonElement Required(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value
            : throw new InvalidDataException($"field '{name}' is missing");
}
