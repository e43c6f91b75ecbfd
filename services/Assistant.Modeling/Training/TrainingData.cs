using Assistant.Datasets;
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

    /// <summary>
    /// One record, parsed by the same code that validates uploads (<see cref="DatasetExample.Parse"/>), so the
    /// trainer reads exactly what the platform accepted; the error names the file, line, code and field.
    /// </summary>
    public static TrainingExample Parse(string line, int lineNumber, string source, bool requireAssistant)
    {
        DatasetExample example;
        try
        {
            example = DatasetExample.Parse(line);
        }
        catch (DatasetFormatException e)
        {
            throw new TrainingDataException($"{source}:{lineNumber}: {e.Code}: {e.Message}{(e.Param is null ? "" : $" ({e.Param})")}", e);
        }
        var conversation = example.Conversation;
        if (conversation is not null && requireAssistant && !conversation.Any(m => m.Role == ChatMessage.Assistant))
        {
            throw new TrainingDataException($"{source}:{lineNumber}: the conversation has no assistant message to train on.");
        }
        return new TrainingExample(lineNumber, conversation, example.Text);
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
