using System.Text.Json;

namespace Assistant.Tokenization;

/// <summary>Finds and loads the tokenizer of a model folder (Hugging Face layout or this platform's starter model).</summary>
public static class TokenizerLoader
{
    /// <summary>Hugging Face's single-file tokenizer.</summary>
    public const string TokenizerJsonFileName = "tokenizer.json";

    /// <summary>GPT-2 style vocabulary (token to id).</summary>
    public const string VocabFileName = "vocab.json";

    /// <summary>GPT-2 style merge list, one "a b" pair per line in priority order.</summary>
    public const string MergesFileName = "merges.txt";

    /// <summary>SentencePiece model.</summary>
    public const string SentencePieceFileName = "tokenizer.model";

    /// <summary>
    /// Loads the tokenizer of a model folder. In order: the starter byte tokenizer when
    /// <c>tokenizer_config.json</c> names it (checked first because it is exact and needs no parsing; the
    /// <c>tokenizer.json</c> written beside it is for other tools), <c>tokenizer.json</c>,
    /// <c>vocab.json</c> + <c>merges.txt</c>, <c>tokenizer.model</c>. Special tokens, <c>add_bos_token</c>
    /// and <c>legacy</c> come from <c>tokenizer_config.json</c> / <c>special_tokens_map.json</c> when stated.
    /// </summary>
    /// <exception cref="FileNotFoundException">The folder holds no tokenizer.</exception>
    /// <exception cref="InvalidDataException">A tokenizer file is malformed or uses a feature this loader does not support (the message names the file and the feature).</exception>
    public static TextTokenizer FromModelFolder(string modelDirectory)
    {
        if (!Directory.Exists(modelDirectory))
        {
            throw new DirectoryNotFoundException($"Model folder '{modelDirectory}' does not exist.");
        }

        var config = TokenizerConfig.Read(modelDirectory);
        if (config.AssistantTokenizer is { } marker)
        {
            return marker == ByteTokenizer.FormatName
                ? ByteTokenizer.Instance
                : throw new InvalidDataException($"{Path.Combine(modelDirectory, TokenizerConfig.FileName)}: unknown assistant_tokenizer '{marker}' (known: {ByteTokenizer.FormatName}).");
        }

        var sentencePiece = Path.Combine(modelDirectory, SentencePieceFileName);
        var tokenizerJson = Path.Combine(modelDirectory, TokenizerJsonFileName);
        if (File.Exists(tokenizerJson))
        {
            return FromTokenizerJson(tokenizerJson, config, File.Exists(sentencePiece) ? sentencePiece : null);
        }

        var vocab = Path.Combine(modelDirectory, VocabFileName);
        var merges = Path.Combine(modelDirectory, MergesFileName);
        if (File.Exists(vocab) && File.Exists(merges))
        {
            return FromVocabAndMerges(vocab, merges, config);
        }

        if (File.Exists(sentencePiece))
        {
            return FromSentencePieceModel(sentencePiece, config);
        }

        throw new FileNotFoundException(
            $"Model folder '{modelDirectory}' has no tokenizer: expected {TokenizerJsonFileName}, {VocabFileName} + {MergesFileName}, " +
            $"{SentencePieceFileName}, or a {TokenizerConfig.FileName} with \"assistant_tokenizer\": \"{ByteTokenizer.FormatName}\".");
    }

    /// <summary>
    /// Loads a Hugging Face <c>tokenizer.json</c> holding a byte-level or SentencePiece-style BPE. A
    /// SentencePiece-style one runs on <paramref name="sentencePieceModel"/> when given (its scores are the
    /// originals the merges were derived from), else on a model converted from the file's merges.
    /// </summary>
    public static TextTokenizer FromTokenizerJson(string path, TokenizerConfig? config = null, string? sentencePieceModel = null)
    {
        config ??= new TokenizerConfig();
        var json = TokenizerJson.Read(path);
        if (json.Family == BpeFamily.SentencePiece)
        {
            config = config with { Legacy = json.DummyPrefixEveryRun, AddedTokens = [.. json.AddedTokens, .. config.AddedTokens] };
            if (sentencePieceModel is not null)
            {
                return FromSentencePieceModel(sentencePieceModel, config);
            }

            var proto = SentencePieceModelWriter.Write(json, config.BosToken ?? "<s>", config.EosToken ?? "</s>");
            using var stream = new MemoryStream(proto);
            return BuildSentencePiece(SentencePieceBpeTokenizer.LoadModel(stream), config, path);
        }

        var defaults = new TokenizerConfig { BosToken = json.PostProcessorBos, UnkToken = json.UnkToken };
        var (added, special) = ResolveSpecialTokens(json.AddedTokens.Concat(config.AddedTokens), json.Vocab, config, defaults, path);
        return new ByteLevelBpeTokenizer(
            json.Vocab,
            json.Merges,
            json.SplitPattern ?? throw new InvalidDataException($"{path}: a byte-level BPE without a regex split is not supported."),
            json.AddPrefixSpace,
            json.Normalization,
            json.IgnoreMerges,
            added,
            special,
            config.AddBosToken ?? json.PostProcessorBos is not null);
    }

    /// <summary>Loads a GPT-2 style pair of <c>vocab.json</c> and <c>merges.txt</c> (byte-level, GPT-2's split regex).</summary>
    public static ByteLevelBpeTokenizer FromVocabAndMerges(string vocabPath, string mergesPath, TokenizerConfig? config = null)
    {
        config ??= new TokenizerConfig();
        Dictionary<string, int>? vocab;
        try
        {
            using var stream = File.OpenRead(vocabPath);
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(stream);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{vocabPath}: expected a JSON object of token to id ({e.Message}).", e);
        }

        if (vocab is null)
        {
            throw new InvalidDataException($"{vocabPath}: expected a JSON object of token to id.");
        }

        // The first line of a GPT-2 merges file is a "#version" comment.
        var merges = File.ReadLines(mergesPath).Where(line => line.Length > 0 && !line.StartsWith("#version", StringComparison.Ordinal)).ToList();
        var endOfText = vocab.ContainsKey(Gpt2Tokenizer.EndOfText) ? Gpt2Tokenizer.EndOfText : null;
        var defaults = new TokenizerConfig { BosToken = endOfText, EosToken = endOfText, UnkToken = endOfText };
        var (added, special) = ResolveSpecialTokens(config.AddedTokens, vocab, config, defaults, vocabPath);
        return new ByteLevelBpeTokenizer(vocab, merges, PreTokenizerPatterns.Gpt2, addPrefixSpace: false, normalization: null, ignoreMerges: false, added, special, config.AddBosToken ?? false);
    }

    /// <summary>Loads a SentencePiece BPE <c>tokenizer.model</c>; bos is added by default, as Llama does.</summary>
    public static SentencePieceBpeTokenizer FromSentencePieceModel(string path, TokenizerConfig? config = null)
    {
        using var stream = File.OpenRead(path);
        return BuildSentencePiece(SentencePieceBpeTokenizer.LoadModel(stream), config ?? new TokenizerConfig(), path);
    }

    /// <summary>Writes the starter byte tokenizer's files into a model folder (see <see cref="ByteTokenizerFiles"/>).</summary>
    public static void WriteStarterTokenizer(string modelDirectory) => ByteTokenizerFiles.Write(modelDirectory);

    private static SentencePieceBpeTokenizer BuildSentencePiece(Microsoft.ML.Tokenizers.LlamaTokenizer model, TokenizerConfig config, string source)
    {
        var defaults = new TokenizerConfig
        {
            BosToken = model.BeginningOfSentenceToken,
            EosToken = model.EndOfSentenceToken,
            UnkToken = model.UnknownToken,
        };
        var (added, special) = ResolveSpecialTokens(config.AddedTokens, model.Vocabulary, config, defaults, source);
        var addBos = config.AddBosToken ?? special.Bos is not null;
        return new SentencePieceBpeTokenizer(model, added, special, addBos, dummyPrefixEveryRun: config.Legacy ?? true);
    }

    // Resolves bos/eos/pad/unk names to ids; each becomes a special added token so it is matched as one id.
    private static (List<AddedToken> Added, SpecialTokens Special) ResolveSpecialTokens(
        IEnumerable<AddedToken> addedTokens,
        IReadOnlyDictionary<string, int> vocab,
        TokenizerConfig config,
        TokenizerConfig defaults,
        string source)
    {
        var added = addedTokens.GroupBy(t => t.Id).Select(g => g.First()).ToList();
        SpecialToken? Resolve(string field, string? text)
        {
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            var id = added.FirstOrDefault(t => t.Content == text)?.Id
                ?? (vocab.TryGetValue(text, out var v) ? v : throw new InvalidDataException($"{source}: {field} '{text}' is not in the vocabulary."));
            if (added.All(t => t.Content != text))
            {
                added.Add(new AddedToken(text, id, IsSpecial: true));
            }

            return new SpecialToken(text, id);
        }

        var special = new SpecialTokens(
            Resolve("bos_token", config.BosToken ?? defaults.BosToken),
            Resolve("eos_token", config.EosToken ?? defaults.EosToken),
            Resolve("pad_token", config.PadToken ?? defaults.PadToken),
            Resolve("unk_token", config.UnkToken ?? defaults.UnkToken));
        return (added, special);
    }
}
