using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Modeling.Training;

/// <summary>A data file that cannot be trained on; the message names the file, line and field at fault.</summary>
public sealed class TrainingDataException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One record of a JSONL file: a conversation or a plain text, and the line it came from.</summary>
public sealed record TrainingExample(int Line, IReadOnlyList<ChatMessage>? Messages, string? Text)
{
    /// <summary>The conversation up to its last assistant message (the prompt to generate from) and that message (the reference).</summary>
    public (IReadOnlyList<ChatMessage> Prompt, string Reference)? PromptAndReference()
    {
        if (Messages is null) return null;
        var last = Messages.Count - 1;
        while (last >= 0 && Messages[last].Role != ChatMessage.Assistant) last--;
        return last < 0 ? null : (Messages.Take(last).ToArray(), Messages[last].Content);
    }
}

/// <summary>
/// Reads the JSONL formats the platform accepts, one record per line (blank lines skipped):
/// OpenAI chat <c>{"messages":[{"role","content"}]}</c>, the seed's <c>{"context","response"}</c>,
/// <c>{"prompt","completion"}</c>, Alpaca <c>{"instruction","input","output"}</c> and <c>{"text"}</c>.
/// Everything but <c>text</c> becomes a conversation for the model's chat template.
/// </summary>
public static class TrainingData
{
    public const string Formats = "messages, context+response, prompt+completion, instruction(+input)+output, or text";

    /// <summary>All records of <paramref name="path"/>; throws <see cref="TrainingDataException"/> at the first bad line.</summary>
    public static IReadOnlyList<TrainingExample> Read(string path, bool requireAssistant)
    {
        if (!File.Exists(path)) throw new TrainingDataException($"{path}: no such file.");
        var examples = new List<TrainingExample>();
        var lineNumber = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            examples.Add(Parse(line, lineNumber, path, requireAssistant));
        }
        if (examples.Count == 0) throw new TrainingDataException($"{path}: no records; one JSON object per line is expected ({Formats}).");
        return examples;
    }

    public static TrainingExample Parse(string line, int lineNumber, string source, bool requireAssistant)
    {
        string Where() => $"{source}:{lineNumber}";
        JsonDocument document;
        try { document = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new TrainingDataException($"{Where()}: not valid JSON ({e.Message})", e); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new TrainingDataException($"{Where()}: a JSON object is expected, found {root.ValueKind.ToString().ToLowerInvariant()}.");
            string Field(string name, bool required = true)
            {
                if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
                    return required ? throw new TrainingDataException($"{Where()}: '{name}' is missing.") : "";
                return value.ValueKind == JsonValueKind.String ? value.GetString()!
                    : throw new TrainingDataException($"{Where()}: '{name}' must be a string, found {value.ValueKind.ToString().ToLowerInvariant()}.");
            }

            IReadOnlyList<ChatMessage>? messages = null;
            string? text = null;
            if (root.TryGetProperty("messages", out var list)) messages = Messages(list, Where);
            else if (root.TryGetProperty("context", out _) || root.TryGetProperty("response", out _))
                messages = [ChatMessage.FromUser(Field("context")), ChatMessage.FromAssistant(Field("response"))];
            else if (root.TryGetProperty("prompt", out _) || root.TryGetProperty("completion", out _))
                messages = [ChatMessage.FromUser(Field("prompt")), ChatMessage.FromAssistant(Field("completion"))];
            else if (root.TryGetProperty("instruction", out _) || root.TryGetProperty("output", out _))
            {
                var input = Field("input", required: false);
                var instruction = Field("instruction");
                messages = [ChatMessage.FromUser(input.Length > 0 ? $"{instruction}\n\n{input}" : instruction), ChatMessage.FromAssistant(Field("output"))];
            }
            else if (root.TryGetProperty("text", out _))
            {
                text = Field("text");
                if (text.Length == 0) throw new TrainingDataException($"{Where()}: 'text' is empty.");
            }
            else
            {
                var keys = string.Join(", ", root.EnumerateObject().Select(p => $"'{p.Name}'"));
                throw new TrainingDataException($"{Where()}: unrecognised record with keys {(keys.Length > 0 ? keys : "(none)")}; expected {Formats}.");
            }
            if (messages is not null && requireAssistant && !messages.Any(m => m.Role == ChatMessage.Assistant))
                throw new TrainingDataException($"{Where()}: the conversation has no assistant message to train on.");
            return new TrainingExample(lineNumber, messages, text);
        }
    }

    static ChatMessage[] Messages(JsonElement list, Func<string> where)
    {
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            throw new TrainingDataException($"{where()}: 'messages' must be a non-empty array of {{\"role\", \"content\"}} objects.");
        var messages = new ChatMessage[list.GetArrayLength()];
        var i = 0;
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object) throw new TrainingDataException($"{where()}: messages[{i}] must be an object with 'role' and 'content'.");
            var role = item.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()!
                : throw new TrainingDataException($"{where()}: messages[{i}].role is missing or not a string.");
            if (role is not (ChatMessage.System or ChatMessage.User or ChatMessage.Assistant))
                throw new TrainingDataException($"{where()}: messages[{i}].role '{role}' is not one of system, user, assistant.");
            var content = item.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()!
                : throw new TrainingDataException($"{where()}: messages[{i}].content is missing or not a string.");
            messages[i++] = new ChatMessage(role, content);
        }
        return messages;
    }
}

/// <summary>Token ids of one training sequence and which of them carry loss.</summary>
public sealed record TokenSequence(int[] Ids, bool[] Trained)
{
    public int LossTokens
    {
        get
        {
            var n = 0;
            for (var i = 1; i < Trained.Length; i++) if (Trained[i]) n++; // the first token is never predicted
            return n;
        }
    }
}

/// <summary>Turns records into token sequences: conversations through the chat template, texts through the tokenizer.</summary>
public sealed class SequenceEncoder(TextTokenizer tokenizer, ChatTemplate template, int maxLength, bool trainOnAllTokens)
{
    public TextTokenizer Tokenizer { get; } = tokenizer;
    public ChatTemplate Template { get; } = template;

    /// <summary>Sequences of at most max_length + 1 tokens (max_length inputs, each predicting the next token).</summary>
    public List<TokenSequence> EncodeExamples(IEnumerable<TrainingExample> examples, out int truncated)
    {
        var sequences = new List<TokenSequence>();
        truncated = 0;
        foreach (var example in examples)
        {
            var sequence = Encode(example);
            if (sequence.Ids.Length > maxLength + 1)
            {
                truncated++;
                sequence = new TokenSequence(sequence.Ids[..(maxLength + 1)], sequence.Trained[..(maxLength + 1)]);
            }
            if (sequence.Ids.Length >= 2) sequences.Add(sequence);
        }
        return sequences;
    }

    /// <summary>Continued pretraining: all records end to end (eos between them), cut into rows of max_length + 1 tokens.</summary>
    public List<TokenSequence> EncodeStream(IEnumerable<TrainingExample> examples)
    {
        var stream = new List<int>();
        foreach (var example in examples) stream.AddRange(Encode(example, allTokens: true).Ids);
        var sequences = new List<TokenSequence>();
        for (var start = 0; start + 1 < stream.Count; start += maxLength)
        {
            var length = Math.Min(maxLength + 1, stream.Count - start);
            if (length < 2) break;
            var ids = stream.GetRange(start, length).ToArray();
            sequences.Add(new TokenSequence(ids, Enumerable.Repeat(true, length).ToArray()));
        }
        return sequences;
    }

    public TokenSequence Encode(TrainingExample example, bool allTokens = false)
    {
        allTokens |= trainOnAllTokens;
        if (example.Text is not null)
        {
            var ids = Tokenizer.Encode(example.Text, addBos: Tokenizer.AddBos).ToList();
            if (Tokenizer.Special.Eos is { } eos) ids.Add(eos.Id);
            return new TokenSequence(ids.ToArray(), Enumerable.Repeat(true, ids.Count).ToArray());
        }
        var encoded = Template.Encode(example.Messages!, Tokenizer);
        var trained = allTokens ? Enumerable.Repeat(true, encoded.Ids.Count).ToArray() : encoded.AssistantMask.ToArray();
        return new TokenSequence(encoded.Ids.ToArray(), trained);
    }

    /// <summary>Prompt ids that end where the assistant's reply starts (serving's layout).</summary>
    public int[] EncodePrompt(IReadOnlyList<ChatMessage> prompt) =>
        Template.Encode(prompt, Tokenizer, addGenerationPrompt: true).Ids.ToArray();
}
