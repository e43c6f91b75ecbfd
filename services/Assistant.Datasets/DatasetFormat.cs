using System.Text.Json.Serialization;

namespace Assistant.Datasets;

/// <summary>The JSONL record layouts the platform trains on; the JSON names are the ones the API speaks.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<DatasetFormat>))]
public enum DatasetFormat
{
    /// <summary>OpenAI chat: <c>{"messages":[{"role":"system|user|assistant","content":"..."}]}</c>.</summary>
    [JsonStringEnumMemberName("chat")]
    Chat,

    /// <summary>The seed data's <c>{"context":"...","response":"..."}</c>.</summary>
    [JsonStringEnumMemberName("context_response")]
    ContextResponse,

    /// <summary><c>{"prompt":"...","completion":"..."}</c>.</summary>
    [JsonStringEnumMemberName("prompt_completion")]
    PromptCompletion,

    /// <summary>Alpaca: <c>{"instruction":"...","input":"...","output":"..."}</c> (input optional).</summary>
    [JsonStringEnumMemberName("alpaca")]
    Alpaca,

    /// <summary>Plain text for continued pretraining: <c>{"text":"..."}</c>.</summary>
    [JsonStringEnumMemberName("text")]
    Text,
}

/// <summary>The JSON names of <see cref="DatasetFormat"/> outside System.Text.Json (messages, query strings).</summary>
public static class DatasetFormats
{
    /// <summary>Every format, in declaration order.</summary>
    public static IReadOnlyList<DatasetFormat> All { get; } = Array.AsReadOnly(Enum.GetValues<DatasetFormat>());

    /// <summary>"chat", "context_response", "prompt_completion", "alpaca" or "text".</summary>
    public static string ToJsonName(this DatasetFormat format) => format switch
    {
        DatasetFormat.Chat => "chat",
        DatasetFormat.ContextResponse => "context_response",
        DatasetFormat.PromptCompletion => "prompt_completion",
        DatasetFormat.Alpaca => "alpaca",
        DatasetFormat.Text => "text",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>The format with this JSON name (exact, lower case).</summary>
    public static bool TryParse(string? name, out DatasetFormat format)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.ToJsonName(), name, StringComparison.Ordinal))
            {
                format = candidate;
                return true;
            }
        }

        format = default;
        return false;
    }
}
