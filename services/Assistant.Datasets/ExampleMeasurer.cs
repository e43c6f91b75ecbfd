using System.Numerics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Datasets;

/// <summary>What the validator keeps of one line: its problem, or the record's format and measurements.</summary>
internal struct LineOutcome
{
    public long Line;
    public string? Code;
    public string? Message;
    public string? Param;
    public DatasetFormat Format;
    public long Tokens;
    public ulong Hash;
    public int System;
    public int User;
    public int Assistant;
    public PiiCounts Pii;

    public static LineOutcome Problem(long line, string code, string message, string? param = null) =>
        new() { Line = line, Code = code, Message = message, Param = param };
}

/// <summary>
/// Checks lines and measures the valid ones (tokens, content hash, roles, PII) straight from the parsed fields,
/// without building records; one per worker thread (it holds the reusable <see cref="RawRecord"/>).
/// </summary>
internal sealed class ExampleMeasurer(ValidationOptions options)
{
    private readonly TokenCounter counter = TokenCounter.Create(options.Tokenizer);
    private readonly TextTokenizer tokenizer = options.Tokenizer ?? Gpt2Tokenizer.Instance;
    private readonly RawRecord record = new();

    public LineOutcome Check(long line, ReadOnlySpan<byte> bytes)
    {
        if (ExampleParser.Check(bytes, options.Format, record) is { } problem)
        {
            return LineOutcome.Problem(line, problem.Code!, problem.Message!, problem.Param);
        }

        var outcome = new LineOutcome { Line = line, Format = record.Format };
        var hash = new ContentHasher((ulong)record.Format);
        if (record.Format == DatasetFormat.Chat)
        {
            for (var i = 0; i < record.MessageCount; i++)
            {
                var message = record.Messages[i];
                var content = record.Span(message.Content);
                switch (message.RoleName)
                {
                    case ChatMessage.System: outcome.System++; break;
                    case ChatMessage.User: outcome.User++; break;
                    default: outcome.Assistant++; break;
                }

                hash.Add(message.RoleName);
                Field(content, ref outcome, ref hash);
            }
        }
        else if (record.Format == DatasetFormat.Text)
        {
            Field(record.Span(record.Text), ref outcome, ref hash);
        }
        else
        {
            var (prompt, answer) = record.Format switch
            {
                DatasetFormat.ContextResponse => (record.Context, record.Response),
                DatasetFormat.PromptCompletion => (record.Prompt, record.Completion),
                _ => (record.Instruction, record.Output),
            };
            outcome.User = outcome.Assistant = 1;
            Field(record.Span(prompt), ref outcome, ref hash);
            Field(record.Span(answer), ref outcome, ref hash);
            if (record.Format == DatasetFormat.Alpaca)
            {
                // Absent, null and "" are the same input.
                Field(record.Input.Type == JsonTokenType.String ? record.Span(record.Input) : default, ref outcome, ref hash);
            }
        }

        outcome.Hash = hash.Finish();
        if (options.Template is { } template)
        {
            outcome.Tokens = CountTrainingSequence(ExampleParser.ToExample(record), template);
        }

        return outcome;
    }

    // Without a template, tokens are the sum over the text fields.
    private void Field(ReadOnlySpan<char> text, ref LineOutcome outcome, ref ContentHasher hash)
    {
        hash.Add(text);
        outcome.Pii.Add(text);
        if (options.Template is null && !text.IsEmpty)
        {
            outcome.Tokens += counter.Count(text);
        }
    }

    // As the trainer encodes it: conversations through the template; texts with bos (when the model wants one) and eos.
    private long CountTrainingSequence(DatasetExample example, ChatTemplate template) =>
        example.Conversation is { } conversation
            ? template.Encode(conversation, tokenizer).Ids.Count
            : tokenizer.Encode(example.Text!, addBos: tokenizer.AddBos).Count + (tokenizer.Special.Eos is null ? 0 : 1);
}

/// <summary>
/// A fast 64-bit hash of a sequence of strings (8 bytes per multiply, MurmurHash3's finaliser) over a record's
/// canonical fields (what <see cref="DatasetExample.ToJsonLine"/> writes, length-prefixed), for finding duplicate
/// records. Not cryptographic: a crafted file could make two of its own records look equal; by chance, two distinct
/// records collide with probability about n^2 / 2^65 (1e-7 for ten million records).
/// </summary>
internal struct ContentHasher(ulong seed)
{
    private const ulong K1 = 0x87C37B91114253D5UL;
    private const ulong K2 = 0x4CF5AD432745937FUL;

    private ulong state = seed ^ 0x9E3779B97F4A7C15UL;

    public void Add(ReadOnlySpan<char> field)
    {
        Mix((ulong)field.Length);
        var bytes = MemoryMarshal.AsBytes(field);
        while (bytes.Length >= 8)
        {
            Mix(MemoryMarshal.Read<ulong>(bytes));
            bytes = bytes[8..];
        }

        if (!bytes.IsEmpty)
        {
            Span<byte> last = stackalloc byte[8];
            last.Clear();
            bytes.CopyTo(last);
            Mix(MemoryMarshal.Read<ulong>(last));
        }
    }

    public readonly ulong Finish()
    {
        var h = state;
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        h *= 0xC4CEB9FE1A85EC53UL;
        return h ^ (h >> 33);
    }

    private void Mix(ulong block)
    {
        state ^= BitOperations.RotateLeft(block * K1, 31) * K2;
        state = BitOperations.RotateLeft(state, 27) * 5 + 0x52DCE729;
    }
}
