using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Assistant.Tokenization;

namespace Assistant.Datasets;

/// <summary>
/// One record of a dataset, whatever format it came in. Conversation formats keep their messages: chat as
/// given; context/response, prompt/completion and Alpaca as a user message (context, prompt, instruction) and an
/// assistant message (response, completion, output), with Alpaca's optional <see cref="Input"/> beside them. Plain
/// text keeps <see cref="Text"/>. Build records with <see cref="Chat"/>, <see cref="ContextResponse"/>,
/// <see cref="PromptCompletion"/>, <see cref="Alpaca"/>, <see cref="FromText"/> or <see cref="Parse"/>.
/// </summary>
/// <remarks>Equality is by content (format, messages, text, input), the same as <see cref="ToJsonLine"/> equality.</remarks>
public sealed record DatasetExample(DatasetFormat Format, IReadOnlyList<ChatMessage>? Messages, string? Text)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false };

    /// <summary>Alpaca's optional input (null when absent); null for the other formats.</summary>
    public string? Input { get; init; }

    /// <summary>
    /// The prompt side: the context, prompt or instruction; for chat the last user message before the last
    /// assistant message (null when there is none); null for text.
    /// </summary>
    public string? Prompt => Format switch
    {
        DatasetFormat.Text => null,
        DatasetFormat.Chat => LastIndexOf(ChatMessage.Assistant) is var answer and >= 0
            ? Messages!.Take(answer).LastOrDefault(m => m.Role == ChatMessage.User)?.Content
            : Messages!.LastOrDefault(m => m.Role == ChatMessage.User)?.Content,
        _ => Messages![0].Content,
    };

    /// <summary>The last assistant message, response, completion or output; "" for text.</summary>
    public string AssistantAnswer => Format == DatasetFormat.Text ? string.Empty
        : LastIndexOf(ChatMessage.Assistant) is var i and >= 0 ? Messages![i].Content : string.Empty;

    /// <summary>
    /// The conversation the trainer sees (Alpaca's instruction and non-empty input joined by a blank line, as
    /// the trainer does); null for text.
    /// </summary>
    [JsonIgnore]
    public IReadOnlyList<ChatMessage>? Conversation => Format switch
    {
        DatasetFormat.Text => null,
        DatasetFormat.Alpaca when !string.IsNullOrEmpty(Input) =>
            [ChatMessage.FromUser($"{Messages![0].Content}\n\n{Input}"), Messages[1]],
        _ => Messages,
    };

    /// <summary>A chat record.</summary>
    public static DatasetExample Chat(params IReadOnlyList<ChatMessage> messages) =>
        new(DatasetFormat.Chat, messages.ToArray(), null);

    /// <summary>A <c>{"context","response"}</c> record.</summary>
    public static DatasetExample ContextResponse(string context, string response) =>
        new(DatasetFormat.ContextResponse, [ChatMessage.FromUser(context), ChatMessage.FromAssistant(response)], null);

    /// <summary>A <c>{"prompt","completion"}</c> record.</summary>
    public static DatasetExample PromptCompletion(string prompt, string completion) =>
        new(DatasetFormat.PromptCompletion, [ChatMessage.FromUser(prompt), ChatMessage.FromAssistant(completion)], null);

    /// <summary>An Alpaca record.</summary>
    public static DatasetExample Alpaca(string instruction, string? input, string output) =>
        new(DatasetFormat.Alpaca, [ChatMessage.FromUser(instruction), ChatMessage.FromAssistant(output)], null) { Input = input };

    /// <summary>A <c>{"text"}</c> record.</summary>
    public static DatasetExample FromText(string text) => new(DatasetFormat.Text, null, text);

    /// <summary>
    /// The same record with another answer: the last assistant message (one is appended to a chat that has none),
    /// the response, completion or output. Text records have no answer.
    /// </summary>
    public DatasetExample WithAssistantAnswer(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (Format == DatasetFormat.Text)
        {
            throw new InvalidOperationException("A text record has no assistant answer.");
        }

        var messages = Messages!.ToArray();
        var last = LastIndexOf(ChatMessage.Assistant);
        if (last >= 0)
        {
            messages[last] = messages[last] with { Content = answer };
            return this with { Messages = messages };
        }

        return this with { Messages = [.. messages, ChatMessage.FromAssistant(answer)] };
    }

    /// <summary>
    /// The record as one JSON line in its own format with a fixed key order and no insignificant whitespace, so
    /// equal records give equal lines (hashing, storage). Non-ASCII text is written as UTF-8 (characters outside the
    /// Basic Multilingual Plane, such as emoji, as \u escapes: System.Text.Json's relaxed encoder does so).
    /// </summary>
    public string ToJsonLine()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        WriteJsonLine(buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary><see cref="ToJsonLine"/> as UTF-8, without a line break.</summary>
    public void WriteJsonLine(IBufferWriter<byte> output)
    {
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        writer.WriteStartObject();
        switch (Format)
        {
            case DatasetFormat.Chat:
                writer.WriteStartArray("messages"u8);
                foreach (var message in Required(Messages, nameof(Messages)))
                {
                    writer.WriteStartObject();
                    writer.WriteString("role"u8, message.Role);
                    writer.WriteString("content"u8, message.Content);
                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                break;
            case DatasetFormat.ContextResponse:
                WritePair(writer, "context"u8, "response"u8);
                break;
            case DatasetFormat.PromptCompletion:
                WritePair(writer, "prompt"u8, "completion"u8);
                break;
            case DatasetFormat.Alpaca:
                var (instruction, output1) = Pair();
                writer.WriteString("instruction"u8, instruction);
                writer.WriteString("input"u8, Input ?? string.Empty);
                writer.WriteString("output"u8, output1);
                break;
            case DatasetFormat.Text:
                writer.WriteString("text"u8, Required(Text, nameof(Text)));
                break;
            default:
                throw new InvalidOperationException($"Unknown format {Format}.");
        }

        writer.WriteEndObject();
    }

    /// <summary>
    /// Reads one JSON line. With <paramref name="expected"/>, a record in another format is a <c>mixed_formats</c>
    /// problem; without, the format is recognised from the keys (messages, context/response, prompt/completion,
    /// instruction/output, text, in that order of precedence; other keys are ignored).
    /// </summary>
    /// <exception cref="DatasetFormatException">The line is not a valid record; its code, message and param say why.</exception>
    public static DatasetExample Parse(string jsonLine, DatasetFormat? expected = null)
    {
        ArgumentNullException.ThrowIfNull(jsonLine);
        var rented = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(jsonLine.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(jsonLine, rented);
            var result = ExampleParser.Parse(rented.AsSpan(0, length), expected);
            return result.Example ?? throw new DatasetFormatException(result.Code!, result.Message!, result.Param);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <inheritdoc />
    public bool Equals(DatasetExample? other) =>
        other is not null && Format == other.Format && Text == other.Text && CanonicalInput == other.CanonicalInput &&
        (ReferenceEquals(Messages, other.Messages) || (Messages is not null && other.Messages is not null && Messages.SequenceEqual(other.Messages)));

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Format);
        hash.Add(Text);
        hash.Add(CanonicalInput);
        foreach (var message in Messages ?? [])
        {
            hash.Add(message);
        }

        return hash.ToHashCode();
    }

    // Alpaca without input and with "" are the same record (ToJsonLine writes "").
    private string? CanonicalInput => Format == DatasetFormat.Alpaca ? Input ?? string.Empty : Input;

    private int LastIndexOf(string role)
    {
        var messages = Required(Messages, nameof(Messages));
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            if (messages[i].Role == role)
            {
                return i;
            }
        }

        return -1;
    }

    private (string Prompt, string Answer) Pair()
    {
        var messages = Required(Messages, nameof(Messages));
        return messages.Count == 2
            ? (messages[0].Content, messages[1].Content)
            : throw new InvalidOperationException($"A {Format.ToJsonName()} record holds exactly two messages (prompt side, answer).");
    }

    private void WritePair(Utf8JsonWriter writer, ReadOnlySpan<byte> promptKey, ReadOnlySpan<byte> answerKey)
    {
        var (prompt, answer) = Pair();
        writer.WriteString(promptKey, prompt);
        writer.WriteString(answerKey, answer);
    }

    private T Required<T>(T? value, string name) where T : class =>
        value ?? throw new InvalidOperationException($"A {Format.ToJsonName()} record needs {name}.");
}
