using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using Assistant.Tokenization;
using static Assistant.Datasets.DatasetProblemCodes;

namespace Assistant.Datasets;

/// <summary>A parsed line: the record, or the first problem found in it.</summary>
internal readonly record struct ParseResult(DatasetExample? Example, string? Code, string? Message, string? Param)
{
    public static ParseResult Problem(string code, string message, string? param = null) => new(null, code, message, param);
}

/// <summary>
/// Reads one JSONL line with <see cref="Utf8JsonReader"/> in a single pass into a reusable <see cref="RawRecord"/>
/// (field values unescaped into one char buffer, no strings), then recognises the format and checks the record. JSON
/// and encoding errors win over format errors; after that the first problem in field order is reported. Only
/// problems allocate; <see cref="ToExample"/> makes the strings when a record is wanted.
/// </summary>
internal static class ExampleParser
{
    private const string Expected = "expected messages, context+response, prompt+completion, instruction+output or text";
    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 };

    [ThreadStatic]
    private static RawRecord? cachedRecord;

    /// <summary>Parses and builds the record (allocating), for <see cref="DatasetExample.Parse"/> and the reader.</summary>
    public static ParseResult Parse(ReadOnlySpan<byte> line, DatasetFormat? expected)
    {
        var record = cachedRecord ?? new RawRecord();
        cachedRecord = null;
        try
        {
            var problem = Check(line, expected, record);
            return problem ?? new ParseResult(ToExample(record), null, null, null);
        }
        finally
        {
            cachedRecord = record;
        }
    }

    /// <summary>Reads the line into <paramref name="record"/> and checks it: null when it is a valid record of <see cref="RawRecord.Format"/>.</summary>
    public static ParseResult? Check(ReadOnlySpan<byte> line, DatasetFormat? expected, RawRecord record)
    {
        record.Reset();
        if (line.IndexOf((byte)0) is var nul and >= 0)
        {
            return ParseResult.Problem(InvalidJson, $"a NUL byte at byte {nul + 1}; JSON text cannot hold one (binary data?)");
        }

        if (!Utf8.IsValid(line))
        {
            var at = InvalidUtf8Offset(line);
            return ParseResult.Problem(InvalidUtf8, $"not UTF-8: byte 0x{line[at]:X2} at byte {at + 1} starts no valid character; save the file as UTF-8");
        }

        try
        {
            var reader = new Utf8JsonReader(line, isFinalBlock: true, new JsonReaderState(ReaderOptions));
            if (!reader.Read())
            {
                return ParseResult.Problem(InvalidJson, "no JSON value on the line");
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                var kind = TypeName(reader.TokenType);
                reader.Skip();
                while (reader.Read())
                {
                    // Reading to the end throws on trailing text, so "[1,2" is invalid_json rather than data_type.
                }

                return ParseResult.Problem(DataType, $"the line is a JSON {kind}; each line must be a JSON object");
            }

            ReadRecord(ref reader, record);
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            return ParseResult.Problem(InvalidJson, $"not valid JSON at byte {(e.BytePositionInLine ?? 0) + 1}: {Reason(e)}");
        }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") cannot be unescaped.
            return ParseResult.Problem(InvalidJson, $"not valid JSON: {e.Message}");
        }

        return CheckRecord(record, expected);
    }

    /// <summary>The record a successful <see cref="Check"/> read.</summary>
    public static DatasetExample ToExample(RawRecord record)
    {
        switch (record.Format)
        {
            case DatasetFormat.Chat:
                var messages = new ChatMessage[record.MessageCount];
                for (var i = 0; i < messages.Length; i++)
                {
                    var m = record.Messages[i];
                    messages[i] = new ChatMessage(m.RoleName!, record.String(m.Content));
                }

                return new DatasetExample(DatasetFormat.Chat, messages, null);
            case DatasetFormat.ContextResponse:
                return DatasetExample.ContextResponse(record.String(record.Context), record.String(record.Response));
            case DatasetFormat.PromptCompletion:
                return DatasetExample.PromptCompletion(record.String(record.Prompt), record.String(record.Completion));
            case DatasetFormat.Alpaca:
                var input = record.Input.Type == JsonTokenType.String ? record.String(record.Input) : null;
                return DatasetExample.Alpaca(record.String(record.Instruction), input, record.String(record.Output));
            default:
                return DatasetExample.FromText(record.String(record.Text));
        }
    }

    private static ParseResult? CheckRecord(RawRecord record, DatasetFormat? expected)
    {
        DatasetFormat? format = expected is { } e && record.Has(e) ? e
            : record.Has(DatasetFormat.Chat) ? DatasetFormat.Chat
            : record.Has(DatasetFormat.ContextResponse) ? DatasetFormat.ContextResponse
            : record.Has(DatasetFormat.PromptCompletion) ? DatasetFormat.PromptCompletion
            : record.Has(DatasetFormat.Alpaca) ? DatasetFormat.Alpaca
            : record.Has(DatasetFormat.Text) ? DatasetFormat.Text
            : null;

        if (format is null)
        {
            if (expected is { } wanted)
            {
                // A record with no key of any format, in a dataset of known format: name what it lacks.
                return wanted == DatasetFormat.Chat
                    ? ParseResult.Problem(MissingMessagesList, "the record has no 'messages' list", "messages")
                    : ParseResult.Problem(MissingField, $"'{RequiredFields(wanted)[0]}' is missing", RequiredFields(wanted)[0]);
            }

            var keys = record.OtherKeys.Count == 0 ? "no keys" : "keys " + string.Join(", ", record.OtherKeys.Select(k => $"'{k}'"));
            return ParseResult.Problem(UnknownFormat, $"the object has {keys}; {Expected}");
        }

        if (expected is { } other && other != format)
        {
            return ParseResult.Problem(MixedFormats, $"the record is {format.Value.ToJsonName()}; the dataset is {other.ToJsonName()}");
        }

        record.Format = format.Value;
        return format == DatasetFormat.Chat ? CheckChat(record) : CheckFlat(record, format.Value);
    }

    private static ParseResult? CheckChat(RawRecord record)
    {
        if (record.MessagesField.Type != JsonTokenType.StartArray)
        {
            return ParseResult.Problem(MissingMessagesList,
                $"'messages' must be a non-empty list of {{\"role\",\"content\"}} objects, found {TypeName(record.MessagesField.Type)}", "messages");
        }

        if (record.MessageCount == 0)
        {
            return ParseResult.Problem(MissingMessagesList, "'messages' is empty", "messages");
        }

        var hasAssistant = false;
        for (var i = 0; i < record.MessageCount; i++)
        {
            var m = record.Messages[i];
            if (m.NotObjectType is { } type)
            {
                return ParseResult.Problem(DataType, $"messages[{i}] is a JSON {TypeName(type)}; each message must be an object with 'role' and 'content'", $"messages[{i}]");
            }

            if (!m.Role.Present)
            {
                return ParseResult.Problem(MessageMissingKey, $"messages[{i}] has no 'role'", $"messages[{i}].role");
            }

            if (!m.Content.Present)
            {
                return ParseResult.Problem(MessageMissingKey, $"messages[{i}] has no 'content'", $"messages[{i}].content");
            }

            if (m.UnknownKey is { } unknown)
            {
                return ParseResult.Problem(MessageUnrecognizedKey, $"messages[{i}] has the key '{unknown}'; a message has only 'role' and 'content'", $"messages[{i}].{unknown}");
            }

            m.RoleName = m.Role.Type == JsonTokenType.String ? RoleName(record.Span(m.Role)) : null;
            if (m.RoleName is null)
            {
                var found = m.Role.Type == JsonTokenType.String ? $"'{record.String(m.Role)}'" : TypeName(m.Role.Type);
                return ParseResult.Problem(UnrecognizedRole, $"messages[{i}].role is {found}; expected system, user or assistant", $"messages[{i}].role");
            }

            if (m.Content.Type != JsonTokenType.String || m.Content.Length == 0)
            {
                var found = m.Content.Type == JsonTokenType.String ? "empty" : TypeName(m.Content.Type);
                return ParseResult.Problem(MissingContent, $"messages[{i}].content is {found}; it must be a non-empty string", $"messages[{i}].content");
            }

            hasAssistant |= ReferenceEquals(m.RoleName, ChatMessage.Assistant);
        }

        return hasAssistant ? null : ParseResult.Problem(ExampleMissingAssistantMessage, "the conversation has no assistant message to learn from", "messages");
    }

    private static ParseResult? CheckFlat(RawRecord record, DatasetFormat format)
    {
        foreach (var name in RequiredFields(format))
        {
            var field = record.Field(name);
            if (!field.Present || field.Type == JsonTokenType.Null)
            {
                return ParseResult.Problem(MissingField, $"'{name}' is {(field.Present ? "null" : "missing")}", name);
            }

            if (field.Type != JsonTokenType.String)
            {
                return ParseResult.Problem(DataType, $"'{name}' must be a string, found {TypeName(field.Type)}", name);
            }

            if (field.Length == 0)
            {
                return ParseResult.Problem(EmptyField, $"'{name}' is empty", name);
            }
        }

        var input = record.Input;
        return format == DatasetFormat.Alpaca && input.Present && input.Type is not (JsonTokenType.String or JsonTokenType.Null)
            ? ParseResult.Problem(DataType, $"'input' must be a string, found {TypeName(input.Type)}", "input")
            : null;
    }

    private static string? RoleName(ReadOnlySpan<char> role) =>
        role.SequenceEqual(ChatMessage.User) ? ChatMessage.User
        : role.SequenceEqual(ChatMessage.Assistant) ? ChatMessage.Assistant
        : role.SequenceEqual(ChatMessage.System) ? ChatMessage.System
        : null;

    private static string[] RequiredFields(DatasetFormat format) => format switch
    {
        DatasetFormat.Chat => ["messages"],
        DatasetFormat.ContextResponse => ["context", "response"],
        DatasetFormat.PromptCompletion => ["prompt", "completion"],
        DatasetFormat.Alpaca => ["instruction", "output"],
        _ => ["text"],
    };

    private static void ReadRecord(ref Utf8JsonReader reader, RawRecord record)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("messages"u8))
            {
                reader.Read();
                record.MessagesField = new RawField(true, reader.TokenType, 0, 0);
                record.MessageCount = 0;
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    ReadMessages(ref reader, record);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("context"u8)) record.Context = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("response"u8)) record.Response = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("prompt"u8)) record.Prompt = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("completion"u8)) record.Completion = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("instruction"u8)) record.Instruction = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("input"u8)) record.Input = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("output"u8)) record.Output = ReadField(ref reader, record);
            else if (reader.ValueTextEquals("text"u8)) record.Text = ReadField(ref reader, record);
            else
            {
                if (record.OtherKeys.Count < 8)
                {
                    record.OtherKeys.Add(reader.GetString()!); // only read when no format matches; rare
                }

                reader.Read();
                reader.Skip();
            }
        }
    }

    private static void ReadMessages(ref Utf8JsonReader reader, RawRecord record)
    {
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var message = record.NextMessage();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                message.NotObjectType = reader.TokenType;
                reader.Skip();
                continue;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("role"u8)) message.Role = ReadField(ref reader, record);
                else if (reader.ValueTextEquals("content"u8)) message.Content = ReadField(ref reader, record);
                else
                {
                    message.UnknownKey ??= reader.GetString();
                    reader.Read();
                    reader.Skip();
                }
            }
        }
    }

    private static RawField ReadField(ref Utf8JsonReader reader, RawRecord record)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.String)
        {
            var destination = record.Reserve(reader.HasValueSequence ? checked((int)reader.ValueSequence.Length) : reader.ValueSpan.Length);
            var length = reader.CopyString(destination);
            return record.Commit(length);
        }

        var type = reader.TokenType;
        reader.Skip();
        return new RawField(true, type, 0, 0);
    }

    private static string TypeName(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString().ToLowerInvariant(),
    };

    // System.Text.Json ends its messages with "LineNumber: 0 | BytePositionInLine: 7."; the position is reported apart.
    private static string Reason(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut >= 0 ? message[..cut] : message).TrimEnd();
    }

    private static int InvalidUtf8Offset(ReadOnlySpan<byte> line)
    {
        Span<char> scratch = stackalloc char[256];
        var offset = 0;
        while (true)
        {
            var status = Utf8.ToUtf16(line[offset..], scratch, out var read, out _, replaceInvalidSequences: false, isFinalBlock: true);
            offset += read;
            if (status != OperationStatus.DestinationTooSmall)
            {
                return Math.Min(offset, line.Length - 1);
            }
        }
    }
}

/// <summary>A field as read: present or not, its JSON type and, for a string, where its unescaped text is in the record's buffer.</summary>
internal readonly record struct RawField(bool Present, JsonTokenType Type, int Start, int Length);

/// <summary>One message as read.</summary>
internal sealed class RawMessage
{
    public JsonTokenType? NotObjectType;
    public RawField Role;
    public RawField Content;
    public string? UnknownKey;

    /// <summary>The role's interned name once checked.</summary>
    public string? RoleName;

    public void Reset() => (NotObjectType, Role, Content, UnknownKey, RoleName) = (null, default, default, null, null);
}

/// <summary>
/// The fields of one line, reused from line to line by one thread: string values are unescaped into one growing
/// char buffer and referred to by position, so a valid line costs no allocation.
/// </summary>
internal sealed class RawRecord
{
    private char[] chars = new char[4096];
    private int used;

    public RawField MessagesField;
    public RawField Context, Response, Prompt, Completion, Instruction, Input, Output, Text;

    /// <summary>The format <see cref="ExampleParser.Check"/> recognised.</summary>
    public DatasetFormat Format;

    public List<RawMessage> Messages { get; } = [];

    public int MessageCount;

    public List<string> OtherKeys { get; } = [];

    public void Reset()
    {
        used = 0;
        MessageCount = 0;
        MessagesField = Context = Response = Prompt = Completion = Instruction = Input = Output = Text = default;
        OtherKeys.Clear();
    }

    public RawMessage NextMessage()
    {
        if (MessageCount == Messages.Count)
        {
            Messages.Add(new RawMessage());
        }

        var message = Messages[MessageCount++];
        message.Reset();
        return message;
    }

    public ReadOnlySpan<char> Span(RawField field) => chars.AsSpan(field.Start, field.Length);

    public string String(RawField field) => new(Span(field));

    /// <summary>Room for a value of up to <paramref name="utf8Length"/> bytes (never more chars than bytes).</summary>
    public Span<char> Reserve(int utf8Length)
    {
        if (chars.Length - used < utf8Length)
        {
            Array.Resize(ref chars, Math.Max(chars.Length * 2, used + utf8Length));
        }

        return chars.AsSpan(used);
    }

    public RawField Commit(int length)
    {
        var field = new RawField(true, JsonTokenType.String, used, length);
        used += length;
        return field;
    }

    public bool Has(DatasetFormat format) => format switch
    {
        DatasetFormat.Chat => MessagesField.Present,
        DatasetFormat.ContextResponse => Context.Present || Response.Present,
        DatasetFormat.PromptCompletion => Prompt.Present || Completion.Present,
        DatasetFormat.Alpaca => Instruction.Present || Output.Present,
        _ => Text.Present,
    };

    public RawField Field(string name) => name switch
    {
        "context" => Context,
        "response" => Response,
        "prompt" => Prompt,
        "completion" => Completion,
        "instruction" => Instruction,
        "output" => Output,
        _ => Text,
    };
}
