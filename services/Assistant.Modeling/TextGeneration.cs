using System.Text;
using System.Text.Json.Nodes;
using Assistant.Tokenization;
using static TorchSharp.torch;

namespace Assistant.Modeling;

/// <summary>
/// A model folder loaded for generation: weights, the folder's tokenizer and its chat template
/// (ChatML when <c>tokenizer_config.json</c> names none), checked against each other.
/// </summary>
public sealed class LoadedModel(CausalLM model, TextTokenizer tokenizer, ChatTemplate chatTemplate) : IDisposable
{
    public CausalLM Model { get; } = model;
    public TextTokenizer Tokenizer { get; } = tokenizer;
    public ChatTemplate ChatTemplate { get; } = chatTemplate;

    /// <summary>Loads <paramref name="folder"/> (fp32, eval mode) on <paramref name="device"/> (CPU by default).</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="ModelFormatException">The weights, config or tokenizer cannot be used; the message names the file at fault.</exception>
    public static LoadedModel Load(string folder, Device? device = null)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist.");
        var model = HfCheckpoint.Load(folder, device);
        try
        {
            TextTokenizer tokenizer;
            ChatTemplate template;
            try
            {
                tokenizer = TokenizerLoader.FromModelFolder(folder);
                template = ChatTemplate.FromModelFolder(folder);
            }
            catch (Exception e) when (e is FileNotFoundException or InvalidDataException)
            {
                throw new ModelFormatException(e.Message, e);
            }
            if (tokenizer.VocabSize > model.Config.VocabSize)
                throw new ModelFormatException(
                    $"The tokenizer in '{folder}' has {tokenizer.VocabSize} ids, more than config.json's vocab_size {model.Config.VocabSize}: it does not belong to these weights.");
            return new LoadedModel(model, tokenizer, template);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Ids that end any generation: the model's eos ids (generation_config.json, else config.json) and the tokenizer's eos.</summary>
    public IReadOnlyList<int> EosTokenIds
    {
        get
        {
            IEnumerable<int> ids = Model.GenerationConfig?["eos_token_id"] switch
            {
                JsonArray list => list.Select(n => n!.GetValue<int>()),
                JsonNode one => [one.GetValue<int>()],
                null => Model.Config.EosTokenIds,
            };
            if (Tokenizer.Special.Eos is { } eos) ids = ids.Append(eos.Id);
            return ids.Distinct().ToArray();
        }
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>How to generate text: token sampling plus text-level stops.</summary>
public sealed record TextGenerationOptions
{
    /// <summary>Token sampling; its <see cref="SamplingOptions.StopTokenIds"/>, when set, replace the model's eos ids.</summary>
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Generation ends where the decoded text first contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>Leave control tokens (e.g. <c>&lt;|im_start|&gt;</c>) out of the text, as chat servers do.</summary>
    public bool SkipSpecialTokens { get; init; } = true;
}

/// <summary>Tokens a request used: the prompt, and every token sampled (a stop token included).</summary>
public readonly record struct TokenUsage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>
/// A piece of generated text, always whole UTF-8 characters. The last piece of a stream has
/// <see cref="Finish"/> set (its text may be empty); <see cref="Usage"/> counts tokens so far.
/// </summary>
public readonly record struct TextPiece(string Text, FinishReason? Finish, TokenUsage Usage);

/// <summary>A finished generation: the whole text, why it ended, and the tokens it used.</summary>
public sealed record TextCompletion(string Text, FinishReason FinishReason, TokenUsage Usage);

/// <summary>
/// Text in, text out over a <see cref="LoadedModel"/>: encodes a prompt (raw, or a conversation through
/// the model's chat template), generates with <see cref="TokenGenerator"/>, decodes as tokens arrive, and
/// stops on stop token ids or on stop strings found in the decoded text.
/// </summary>
public sealed class TextGenerator(LoadedModel model)
{
    public LoadedModel Model { get; } = model;

    /// <summary>
    /// The ids of a raw prompt. Special-token strings in it become their ids, as Hugging Face tokenizers
    /// do (the prompt is model text, not a message); an empty prompt starts from bos when there is one.
    /// </summary>
    public IReadOnlyList<int> EncodePrompt(string prompt)
    {
        var tokenizer = Model.Tokenizer;
        var ids = tokenizer.Encode(prompt, allowSpecialTokens: true, addBos: tokenizer.AddBos);
        return ids.Count == 0 && tokenizer.Special.Bos is { } bos ? [bos.Id] : ids;
    }

    /// <summary>The ids of a conversation laid out by the chat template, ending where the assistant's reply starts.</summary>
    public IReadOnlyList<int> EncodeChat(IReadOnlyList<ChatMessage> messages) =>
        Model.ChatTemplate.Encode(messages, Model.Tokenizer, addGenerationPrompt: true).Ids;

    /// <summary>Continues <paramref name="prompt"/>; bad options or a prompt that fills the context throw <see cref="ArgumentException"/> here, not when read.</summary>
    public IEnumerable<TextPiece> StreamComplete(string prompt, TextGenerationOptions options, CancellationToken cancellationToken = default) =>
        Stream(PrepareCompletion(prompt, options), cancellationToken);

    /// <summary>The assistant's reply to <paramref name="messages"/>; the template's end-of-turn tokens and strings stop it too.</summary>
    public IEnumerable<TextPiece> StreamChat(IReadOnlyList<ChatMessage> messages, TextGenerationOptions options, CancellationToken cancellationToken = default) =>
        Stream(PrepareChat(messages, options), cancellationToken);

    public TextCompletion Complete(string prompt, TextGenerationOptions options, CancellationToken cancellationToken = default) =>
        Collect(StreamComplete(prompt, options, cancellationToken));

    public TextCompletion Chat(IReadOnlyList<ChatMessage> messages, TextGenerationOptions options, CancellationToken cancellationToken = default) =>
        Collect(StreamChat(messages, options, cancellationToken));

    /// <summary>Generates from prompt ids, stopping on the model's eos ids (or the options' stop ids) and the options' stop strings.</summary>
    public IEnumerable<TextPiece> Stream(IReadOnlyList<int> promptIds, TextGenerationOptions options, CancellationToken cancellationToken = default) =>
        Stream(Prepare(promptIds, options), cancellationToken);

    /// <summary>What <see cref="StreamComplete"/> runs: the raw prompt's ids with the options' stops.</summary>
    public PreparedGeneration PrepareCompletion(string prompt, TextGenerationOptions options) => Prepare(EncodePrompt(prompt), options, [], []);

    /// <summary>What <see cref="StreamChat"/> runs: the templated conversation, stopped by the template's end of turn too.</summary>
    public PreparedGeneration PrepareChat(IReadOnlyList<ChatMessage> messages, TextGenerationOptions options) =>
        Prepare(EncodeChat(messages), options, Model.ChatTemplate.StopTokenIds(Model.Tokenizer), Model.ChatTemplate.StopStrings);

    /// <summary>What <see cref="Stream(IReadOnlyList{int}, TextGenerationOptions, CancellationToken)"/> runs.</summary>
    public PreparedGeneration Prepare(IReadOnlyList<int> promptIds, TextGenerationOptions options) => Prepare(promptIds, options, [], []);

    PreparedGeneration Prepare(IReadOnlyList<int> promptIds, TextGenerationOptions options, IEnumerable<int> moreStopTokenIds, IEnumerable<string> moreStopStrings)
    {
        var stops = options.StopStrings.Concat(moreStopStrings).Distinct(StringComparer.Ordinal).ToArray();
        if (stops.Any(s => s.Length == 0)) throw new ArgumentException("A stop string is empty.", nameof(options));
        var stopIds = (options.Sampling.StopTokenIds ?? Model.EosTokenIds).Concat(moreStopTokenIds).ToHashSet();
        return new PreparedGeneration(promptIds, options.Sampling with { StopTokenIds = stopIds }, stops, options.SkipSpecialTokens);
    }

    /// <summary>Runs a prepared generation on its own; bad options or a prompt that fills the context throw here, not when read.</summary>
    public IEnumerable<TextPiece> Stream(PreparedGeneration generation, CancellationToken cancellationToken = default)
    {
        var tokens = new TokenGenerator(Model.Model).StreamBatch([generation.PromptIds], generation.Sampling, cancellationToken);
        return Decode(tokens, generation.CreateText(Model.Tokenizer));
    }

    static IEnumerable<TextPiece> Decode(IEnumerable<GeneratedToken> tokens, GeneratedText text)
    {
        var finish = FinishReason.Length;
        foreach (var token in tokens)
        {
            if (token.Finish == FinishReason.Stop)
            {
                text.PushStopToken();
                finish = FinishReason.Stop;
                break;
            }
            var piece = text.Push(token.TokenId);
            if (piece.Finish is not null)
            {
                yield return piece;
                yield break;
            }
            if (piece.Text.Length > 0) yield return piece;
        }
        yield return text.End(finish);
    }

    static TextCompletion Collect(IEnumerable<TextPiece> pieces)
    {
        var text = new StringBuilder();
        var last = default(TextPiece);
        foreach (var piece in pieces)
        {
            text.Append(piece.Text);
            last = piece;
        }
        return new TextCompletion(text.ToString(), last.Finish ?? FinishReason.Length, last.Usage);
    }
}

/// <summary>
/// A generation ready to run: its prompt ids, its token sampling with every id that stops it (the options' or the model's eos
/// ids, plus the chat template's end of turn), and its stop strings. <see cref="TextGenerator"/> runs one at a time;
/// a serving engine runs many side by side, each decoded by its own <see cref="GeneratedText"/>.
/// </summary>
public sealed record PreparedGeneration(IReadOnlyList<int> PromptIds, SamplingOptions Sampling, IReadOnlyList<string> StopStrings, bool SkipSpecialTokens)
{
    /// <summary>The ids that end this generation (always set by <see cref="TextGenerator"/>'s Prepare methods).</summary>
    public IReadOnlyCollection<int> StopTokenIds => Sampling.StopTokenIds ?? [];

    /// <summary>Fresh text decoding for this generation's tokens.</summary>
    public GeneratedText CreateText(TextTokenizer tokenizer) => new(tokenizer, PromptIds.Count, StopStrings, SkipSpecialTokens);
}

/// <summary>
/// The text of one generation as its tokens arrive: whole UTF-8 characters only, control tokens left out when asked, stop
/// strings found and cut off (text that could still become one is held back), and every token counted for the usage.
/// </summary>
public sealed class GeneratedText
{
    readonly StreamingDecoder decoder;
    readonly StopStringScanner stops;
    readonly int promptTokens;
    int completionTokens;

    public GeneratedText(TextTokenizer tokenizer, int promptTokens, IReadOnlyList<string> stopStrings, bool skipSpecialTokens)
    {
        if (stopStrings.Any(s => s.Length == 0)) throw new ArgumentException("A stop string is empty.", nameof(stopStrings));
        decoder = tokenizer.CreateStreamingDecoder(skipSpecialTokens);
        stops = new StopStringScanner(stopStrings);
        this.promptTokens = promptTokens;
    }

    public TokenUsage Usage => new(promptTokens, completionTokens);

    /// <summary>
    /// A sampled token that is not a stop id: the text it makes safe to emit (often empty), with <see cref="FinishReason.Stop"/>
    /// when it completed a stop string; the generation ends there and the text is cut before the stop string.
    /// </summary>
    public TextPiece Push(int tokenId)
    {
        completionTokens++;
        var (text, stopped) = stops.Push(decoder.Push(tokenId));
        return new TextPiece(text, stopped ? FinishReason.Stop : null, Usage);
    }

    /// <summary>A stop token: it counts as used, but is never text.</summary>
    public void PushStopToken() => completionTokens++;

    /// <summary>The last piece: what was held back (bytes of an unfinished character come out as U+FFFD, as in TextTokenizer.Decode).</summary>
    public TextPiece End(FinishReason reason)
    {
        var (rest, stoppedAtEnd) = stops.Push(decoder.Flush());
        return stoppedAtEnd ? new TextPiece(rest, FinishReason.Stop, Usage) : new TextPiece(rest + stops.Drain(), reason, Usage);
    }
}

/// <summary>
/// Finds stop strings in text that arrives in pieces. Text that could still be the start of a stop
/// string is held back, so a stop string is always found whole and never half-emitted.
/// </summary>
internal sealed class StopStringScanner(IReadOnlyList<string> stops)
{
    readonly StringBuilder held = new();

    /// <summary>Adds text; returns what is safe to emit, and whether a stop string was found (the text then ends before it).</summary>
    public (string Text, bool Stopped) Push(string text)
    {
        if (stops.Count == 0) return (text, false);
        held.Append(text);
        var all = held.ToString();
        held.Clear();
        var first = stops.Select(s => all.IndexOf(s, StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (first >= 0) return (all[..first], true);
        var keep = HeldBackLength(all);
        held.Append(all, all.Length - keep, keep);
        return (all[..^keep], false);
    }

    /// <summary>The text held back, at the end of generation.</summary>
    public string Drain()
    {
        var rest = held.ToString();
        held.Clear();
        return rest;
    }

    /// <summary>The longest end of <paramref name="text"/> that a stop string starts with.</summary>
    int HeldBackLength(string text)
    {
        for (var length = Math.Min(text.Length, stops.Max(s => s.Length) - 1); length > 0; length--)
        {
            var end = text[^length..];
            if (stops.Any(s => s.StartsWith(end, StringComparison.Ordinal))) return length;
        }
        return 0;
    }
}
