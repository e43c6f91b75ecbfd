using System.Globalization;
using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Inference.Apis;

/// <summary>What a chat or text completion request asks for, checked field by field as OpenAI checks it.</summary>
internal sealed record CompletionRequest
{
    public required string Model { get; init; }
    /// <summary>Chat: the conversation. Null for a text completion.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }
    /// <summary>Text completion: the prompt. Null for chat.</summary>
    public string? Prompt { get; init; }
    /// <summary>Null = as many as the context leaves room for.</summary>
    public int? MaxTokens { get; init; }
    public double Temperature { get; init; } = 1;
    public double TopP { get; init; } = 1;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public long? Seed { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
}

/// <summary>
/// Reads OpenAI request bodies by hand rather than by model binding, so every mistake gets OpenAI's error shape with the
/// parameter at fault (binding failures would be bare 400s). Unknown fields are ignored, as OpenAI clients send many.
/// </summary>
internal static class OpenAiRequests
{
    public const int MaxStopStrings = 4;

    /// <summary>The body as a JSON object; invalid JSON or another JSON value is an <see cref="OpenAiRequestException"/>.</summary>
    public static async Task<JsonDocument> ReadBodyAsync(HttpRequest request)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, default, request.HttpContext.RequestAborted);
        }
        catch (JsonException e)
        {
            throw new OpenAiRequestException(null, $"The request body is not valid JSON: {e.Message}", "invalid_json");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new OpenAiRequestException(null, "The request body must be a JSON object.", "invalid_json");
        }
        return document;
    }

    public static CompletionRequest Chat(JsonElement body) => Common(body) with { Messages = Messages(body) };

    public static CompletionRequest Completion(JsonElement body) => Common(body) with { Prompt = Prompt(body) };

    static CompletionRequest Common(JsonElement body)
    {
        var n = Integer(body, "n", 1, int.MaxValue);
        if (n is not (null or 1)) throw new OpenAiRequestException("n", $"Only n=1 is supported; got n={n}. Send the request again for another choice.");
        if (body.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            throw new OpenAiRequestException("tools", "Tools (function calling) are not supported by this server.");
        // max_completion_tokens replaced max_tokens in OpenAI's chat API; either is accepted, the newer one wins.
        var maxTokens = Integer(body, "max_completion_tokens", 1, int.MaxValue) ?? Integer(body, "max_tokens", 1, int.MaxValue);
        var streamOptions = Optional(body, "stream_options", JsonValueKind.Object, "an object");
        return new CompletionRequest
        {
            Model = String(body, "model") ?? throw new OpenAiRequestException("model", "You must provide a model parameter."),
            MaxTokens = maxTokens,
            Temperature = Number(body, "temperature", 0, 2) ?? 1,
            TopP = Number(body, "top_p", 0, 1, exclusiveMin: true) ?? 1,
            Stop = Stop(body),
            Seed = Long(body, "seed"),
            Stream = Bool(body, "stream") ?? false,
            IncludeUsage = streamOptions is { } options && Bool(options, "include_usage", "stream_options.include_usage") == true,
        };
    }

    static IReadOnlyList<ChatMessage> Messages(JsonElement body)
    {
        var messages = Optional(body, "messages", JsonValueKind.Array, "an array of messages")
            ?? throw new OpenAiRequestException("messages", "You must provide messages: [{\"role\": \"user\", \"content\": \"...\"}].");
        if (messages.GetArrayLength() == 0) throw new OpenAiRequestException("messages", "messages must hold at least one message.");
        var list = new List<ChatMessage>();
        var i = 0;
        foreach (var message in messages.EnumerateArray())
        {
            var at = $"messages[{i++}]";
            if (message.ValueKind != JsonValueKind.Object) throw new OpenAiRequestException(at, $"{at} must be an object with a role and content.");
            var role = String(message, "role", $"{at}.role") ?? throw new OpenAiRequestException($"{at}.role", $"{at}.role is missing.");
            role = role switch
            {
                "system" or "developer" => ChatMessage.System, // developer is OpenAI's newer name for system instructions
                "user" => ChatMessage.User,
                "assistant" => ChatMessage.Assistant,
                _ => throw new OpenAiRequestException($"{at}.role", $"{at}.role '{role}' is not supported; use system, developer, user or assistant."),
            };
            list.Add(new ChatMessage(role, Content(message, $"{at}.content")));
        }
        return list;
    }

    /// <summary>A string, or an array of <c>{"type": "text", "text": ...}</c> parts joined by newlines.</summary>
    static string Content(JsonElement message, string at)
    {
        if (!message.TryGetProperty("content", out var content) || content.ValueKind == JsonValueKind.Null)
            throw new OpenAiRequestException(at, $"{at} is missing.");
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw new OpenAiRequestException(at, $"{at} must be a string or an array of text parts.");
        var texts = new List<string>();
        var i = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partAt = $"{at}[{i++}]";
            if (part.ValueKind != JsonValueKind.Object) throw new OpenAiRequestException(partAt, $"{partAt} must be an object like {{\"type\": \"text\", \"text\": \"...\"}}.");
            var type = String(part, "type", $"{partAt}.type");
            if (type != "text") throw new OpenAiRequestException($"{partAt}.type", $"{partAt}.type '{type}' is not supported; only text parts are.");
            texts.Add(String(part, "text", $"{partAt}.text") ?? throw new OpenAiRequestException($"{partAt}.text", $"{partAt}.text is missing."));
        }
        return string.Join('\n', texts);
    }

    static string Prompt(JsonElement body)
    {
        if (!body.TryGetProperty("prompt", out var prompt) || prompt.ValueKind == JsonValueKind.Null)
            throw new OpenAiRequestException("prompt", "You must provide a prompt.");
        if (prompt.ValueKind == JsonValueKind.String) return prompt.GetString()!;
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String)
            return prompt[0].GetString()!;
        throw new OpenAiRequestException("prompt", "prompt must be a string (or an array of one string); batches of prompts and token arrays are not supported.");
    }

    static IReadOnlyList<string> Stop(JsonElement body)
    {
        if (!body.TryGetProperty("stop", out var stop) || stop.ValueKind == JsonValueKind.Null) return [];
        string[] stops = stop.ValueKind switch
        {
            JsonValueKind.String => [stop.GetString()!],
            JsonValueKind.Array when stop.EnumerateArray().All(s => s.ValueKind == JsonValueKind.String) => stop.EnumerateArray().Select(s => s.GetString()!).ToArray(),
            _ => throw new OpenAiRequestException("stop", "stop must be a string or an array of strings."),
        };
        if (stops.Length > MaxStopStrings) throw new OpenAiRequestException("stop", $"stop holds {stops.Length} strings; at most {MaxStopStrings} are allowed.");
        if (stops.Any(s => s.Length == 0)) throw new OpenAiRequestException("stop", "A stop string is empty.");
        return stops;
    }

    // ---- typed fields: absent or null = not given ----

    static JsonElement? Optional(JsonElement body, string name, JsonValueKind kind, string what, string? param = null)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind == kind ? value : throw new OpenAiRequestException(param ?? name, $"{param ?? name} must be {what}; got {Describe(value)}.");
    }

    static string? String(JsonElement body, string name, string? param = null) =>
        Optional(body, name, JsonValueKind.String, "a string", param)?.GetString();

    static bool? Bool(JsonElement body, string name, string? param = null)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new OpenAiRequestException(param ?? name, $"{param ?? name} must be true or false; got {Describe(value)}."),
        };
    }

    static double? Number(JsonElement body, string name, double min, double max, bool exclusiveMin = false)
    {
        if (Optional(body, name, JsonValueKind.Number, "a number") is not { } value) return null;
        var number = value.GetDouble();
        if (number > max || number < min || (exclusiveMin && number == min))
            throw new OpenAiRequestException(name, $"{name} is {Format(number)}; it must be {(exclusiveMin ? "greater than" : "at least")} {Format(min)} and at most {Format(max)}.");
        return number;
    }

    static int? Integer(JsonElement body, string name, int min, int max)
    {
        if (Optional(body, name, JsonValueKind.Number, "an integer") is not { } value) return null;
        if (!value.TryGetInt64(out var number))
            throw new OpenAiRequestException(name, $"{name} must be an integer; got {value.GetRawText()}.");
        if (number < min) throw new OpenAiRequestException(name, $"{name} is {number}; it must be at least {min}.");
        if (number > max) throw new OpenAiRequestException(name, $"{name} is {number}; it must be at most {max}.");
        return (int)number;
    }

    static long? Long(JsonElement body, string name)
    {
        if (Optional(body, name, JsonValueKind.Number, "an integer") is not { } value) return null;
        return value.TryGetInt64(out var number) ? number : throw new OpenAiRequestException(name, $"{name} must be a 64-bit integer; got {value.GetRawText()}.");
    }

    static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        _ => value.ValueKind.ToString().ToLowerInvariant(),
    };

    static string Format(double number) => number.ToString(CultureInfo.InvariantCulture);
}
