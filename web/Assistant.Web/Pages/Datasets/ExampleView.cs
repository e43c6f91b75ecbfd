using System.Text.Json;

namespace Assistant.Web.Pages.Datasets;

/// <summary>One message of an example as shown: who speaks and what they say.</summary>
public sealed record Turn(string Role, string Content);

/// <summary>
/// Reads a dataset record in any of the API's formats (chat, context_response, prompt_completion, alpaca, text) as
/// turns to show, and finds its answer: the assistant's last message, what an edit replaces.
/// </summary>
public static class ExampleView
{
    public static IReadOnlyList<Turn> Turns(JsonElement example)
    {
        if (example.ValueKind != JsonValueKind.Object)
        {
            return [new Turn("record", example.GetRawText())];
        }
        if (example.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            return messages.EnumerateArray()
                .Select(m => new Turn(Text(m, "role") ?? "message", Text(m, "content") ?? m.GetRawText()))
                .ToList();
        }
        if (Text(example, "text") is { } text && !example.TryGetProperty("response", out _))
        {
            return [new Turn("text", text)];
        }
        var turns = new List<Turn>();
        void Add(string role, params string[] keys)
        {
            var parts = keys.Select(k => Text(example, k)).Where(t => !string.IsNullOrEmpty(t)).ToList();
            if (parts.Count > 0)
            {
                turns.Add(new Turn(role, string.Join("\n\n", parts)));
            }
        }
        Add("user", "context", "prompt", "instruction", "input");
        Add("assistant", "response", "completion", "output");
        return turns.Count > 0 ? turns : [new Turn("record", example.GetRawText())];
    }

    /// <summary>The text an answer edit replaces, or null when the record has none (plain text).</summary>
    public static string? Answer(JsonElement example) =>
        Turns(example).LastOrDefault(t => t.Role == "assistant")?.Content;

    /// <summary>Turns of a JSON line (the diff's before/after); a line that is not JSON shows as it is.</summary>
    public static IReadOnlyList<Turn> Turns(string? line)
    {
        if (string.IsNullOrEmpty(line))
        {
            return [];
        }
        try
        {
            using var doc = JsonDocument.Parse(line);
            return Turns(doc.RootElement);
        }
        catch (JsonException)
        {
            return [new Turn("record", line)];
        }
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
