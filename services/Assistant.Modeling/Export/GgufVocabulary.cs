using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Assistant.Modeling.Export;

/// <summary>llama.cpp's token types (<c>tokenizer.ggml.token_type</c>), the same numbers as SentencePiece's.</summary>
public enum GgufTokenType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// The tokenizer as GGUF stores it (<c>tokenizer.ggml.*</c>): <c>gpt2</c> for byte-level BPE (the starter
/// byte vocabulary, GPT-2, Llama 3), <c>llama</c> for SentencePiece BPE (Llama 2, Mistral, TinyLlama).
/// Read from the HF files of a model folder; padded with unused tokens up to the model's vocab size.
/// </summary>
public sealed record GgufVocabulary
{
    /// <summary><c>tokenizer.ggml.model</c>: <c>gpt2</c> or <c>llama</c>.</summary>
    public required string Model { get; init; }
    /// <summary><c>tokenizer.ggml.pre</c>: llama.cpp's name for the split regex (<c>gpt-2</c>, <c>llama-bpe</c>, <c>default</c>).</summary>
    public required string PreTokenizer { get; init; }
    public required IReadOnlyList<string> Tokens { get; init; }
    public required IReadOnlyList<GgufTokenType> TokenTypes { get; init; }
    /// <summary>SentencePiece piece scores (higher merges first); null for byte-level BPE.</summary>
    public IReadOnlyList<float>? Scores { get; init; }
    /// <summary>Byte-level merges as "left right", highest priority first.</summary>
    public IReadOnlyList<string> Merges { get; init; } = [];
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? UnknownId { get; init; }
    public int? PadId { get; init; }
    public bool AddBos { get; init; }
    /// <summary>SentencePiece's dummy prefix (a space before the text); null for byte-level BPE.</summary>
    public bool? AddSpacePrefix { get; init; }
    public string? ChatTemplate { get; init; }

    // Split regexes of the byte-level BPEs llama.cpp knows by name (as written in tokenizer.json).
    const string Gpt2Split = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
    const string Llama3Split = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Writes the <c>tokenizer.*</c> keys.</summary>
    public void WriteTo(GgufWriter gguf)
    {
        gguf.AddString("tokenizer.ggml.model", Model);
        gguf.AddString("tokenizer.ggml.pre", PreTokenizer);
        gguf.AddStringArray("tokenizer.ggml.tokens", Tokens);
        gguf.AddInt32Array("tokenizer.ggml.token_type", TokenTypes.Select(t => (int)t).ToArray());
        if (Scores is not null) gguf.AddFloat32Array("tokenizer.ggml.scores", Scores);
        if (Model == "gpt2") gguf.AddStringArray("tokenizer.ggml.merges", Merges); // llama.cpp requires the key, even empty
        if (BosId is int bos) gguf.AddUInt32("tokenizer.ggml.bos_token_id", (uint)bos);
        if (EosId is int eos) gguf.AddUInt32("tokenizer.ggml.eos_token_id", (uint)eos);
        if (UnknownId is int unk) gguf.AddUInt32("tokenizer.ggml.unknown_token_id", (uint)unk);
        if (PadId is int pad) gguf.AddUInt32("tokenizer.ggml.padding_token_id", (uint)pad);
        gguf.AddBool("tokenizer.ggml.add_bos_token", AddBos);
        gguf.AddBool("tokenizer.ggml.add_eos_token", false);
        if (AddSpacePrefix is bool prefix) gguf.AddBool("tokenizer.ggml.add_space_prefix", prefix);
        if (ChatTemplate is not null) gguf.AddString("tokenizer.chat_template", ChatTemplate);
    }

    /// <summary>
    /// Reads the tokenizer of an HF model folder: <c>tokenizer.json</c> (byte-level or SentencePiece-style
    /// BPE), else <c>vocab.json</c> + <c>merges.txt</c>; special tokens and <c>add_bos_token</c> from
    /// <c>tokenizer_config.json</c>, falling back to the ids in <c>config.json</c>.
    /// </summary>
    /// <param name="config">The model's config: its vocab size (the token list is padded to it) and fallback special ids.</param>
    public static GgufVocabulary FromModelFolder(string folder, ModelConfig config)
    {
        var tokenizerConfig = ReadObject(Path.Combine(folder, "tokenizer_config.json")) ?? [];
        var specialMap = ReadObject(Path.Combine(folder, "special_tokens_map.json")) ?? [];
        GgufVocabulary vocabulary;
        try
        {
            vocabulary = ReadTokenizerFiles(folder, config.VocabSize);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new ModelFormatException($"The tokenizer files in '{folder}' have a value of an unexpected type: {e.Message}", e);
        }

        var ids = Enumerable.Range(0, vocabulary.Tokens.Count)
            .Where(i => vocabulary.TokenTypes[i] != GgufTokenType.Unused)
            .GroupBy(i => vocabulary.Tokens[i], StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        int? Special(string name, int? fromConfig)
        {
            var text = TokenText(tokenizerConfig[name]) ?? TokenText(specialMap[name]);
            if (text is null) return fromConfig;
            return ids.TryGetValue(text, out var id) ? id
                : throw new ModelFormatException($"tokenizer_config.json {name} '{text}' is not in the vocabulary of '{folder}'.");
        }
        return vocabulary with
        {
            BosId = Special("bos_token", config.BosTokenId) ?? vocabulary.BosId,
            EosId = Special("eos_token", config.EosTokenIds.Count > 0 ? config.EosTokenIds[0] : null) ?? vocabulary.EosId,
            UnknownId = Special("unk_token", null) ?? vocabulary.UnknownId,
            PadId = Special("pad_token", config.PadTokenId) ?? vocabulary.PadId,
            AddBos = tokenizerConfig["add_bos_token"]?.GetValueKind() is JsonValueKind.True or JsonValueKind.False
                ? tokenizerConfig["add_bos_token"]!.GetValue<bool>()
                : vocabulary.AddBos,
            ChatTemplate = ChatTemplateOf(tokenizerConfig),
        };
    }

    static GgufVocabulary ReadTokenizerFiles(string folder, int vocabSize)
    {
        var tokenizerJson = Path.Combine(folder, "tokenizer.json");
        var (vocabJson, mergesTxt) = (Path.Combine(folder, "vocab.json"), Path.Combine(folder, "merges.txt"));
        if (File.Exists(tokenizerJson)) return FromTokenizerJson(tokenizerJson, ReadObject(tokenizerJson)!, vocabSize);
        if (File.Exists(vocabJson) && File.Exists(mergesTxt)) return FromVocabAndMerges(vocabJson, mergesTxt, vocabSize);
        if (File.Exists(Path.Combine(folder, "tokenizer.model")))
            throw new ModelFormatException($"'{folder}' has only a SentencePiece tokenizer.model; GGUF export reads tokenizer.json (save the tokenizer with transformers' save_pretrained to get one).");
        throw new ModelFormatException($"'{folder}' has no tokenizer (tokenizer.json or vocab.json + merges.txt); a GGUF file carries its tokenizer, so export needs one.");
    }

    static GgufVocabulary FromTokenizerJson(string path, JsonObject json, int vocabSize)
    {
        var model = json["model"] as JsonObject ?? throw Unsupported(path, "it has no 'model' object");
        var type = model["type"]?.GetValue<string>() ?? "BPE";
        if (type != "BPE") throw Unsupported(path, $"model type '{type}' (only BPE exports)");
        var vocab = (model["vocab"] as JsonObject ?? throw Unsupported(path, "model.vocab is missing"))
            .ToDictionary(e => e.Key, e => e.Value!.GetValue<int>(), StringComparer.Ordinal);
        var merges = (model["merges"] as JsonArray ?? []).Select(m => m switch
        {
            JsonArray pair => $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}",
            _ => m!.GetValue<string>(),
        }).ToList();
        var added = (json["added_tokens"] as JsonArray ?? [])
            .Select(t => (Id: t!["id"]!.GetValue<int>(), Content: t["content"]!.GetValue<string>(), Special: t["special"]?.GetValue<bool>() ?? false))
            .ToList();
        var (byteLevel, split) = ReadPreTokenizer(json["pre_tokenizer"]);
        var byteFallback = model["byte_fallback"]?.GetValue<bool>() ?? false;
        var unk = model["unk_token"]?.GetValue<string>();
        var addBos = PostProcessorAddsBos(json["post_processor"]);

        var size = Math.Max(vocabSize, Math.Max(vocab.Values.DefaultIfEmpty(-1).Max(), added.Select(a => a.Id).DefaultIfEmpty(-1).Max()) + 1);
        if (size > vocabSize)
            throw new ModelFormatException($"'{path}' has token ids up to {size - 1}, but the model's vocab_size is {vocabSize}.");
        var tokens = new string?[size];
        var types = new GgufTokenType[size];
        foreach (var (token, id) in vocab) (tokens[id], types[id]) = (token, GgufTokenType.Normal);
        foreach (var (id, content, special) in added) (tokens[id], types[id]) = (content, special ? GgufTokenType.Control : GgufTokenType.UserDefined);
        if (unk is not null && vocab.TryGetValue(unk, out var unkId)) types[unkId] = GgufTokenType.Unknown;

        if (byteLevel)
        {
            if (json["normalizer"] is JsonObject normalizer)
                throw Unsupported(path, $"a '{normalizer["type"]}' normalizer before a byte-level BPE (llama.cpp would tokenize differently)");
            var pre = split switch
            {
                Gpt2Split => "gpt-2",
                Llama3Split => "llama-bpe",
                _ => throw Unsupported(path, $"the split regex {split} (llama.cpp knows GPT-2's and Llama 3's)"),
            };
            return new GgufVocabulary
            {
                Model = "gpt2",
                PreTokenizer = pre,
                Tokens = Fill(tokens, types),
                TokenTypes = types,
                Merges = merges,
                AddBos = addBos,
            };
        }

        if (!byteFallback && !HasDummyPrefix(json) && !MarksSpaces(json)) throw Unsupported(path, "a BPE that is neither byte-level nor SentencePiece-style");
        // SentencePiece merges the adjacent pair whose joined piece scores highest: a piece scores minus
        // the rank of the first merge that builds it (the rule the tokenizer.json was derived with).
        var firstMerge = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var rank = 0; rank < merges.Count; rank++) firstMerge.TryAdd(merges[rank].Replace(" ", "", StringComparison.Ordinal), rank);
        var scores = new float[size];
        for (var id = 0; id < size; id++)
        {
            if (types[id] != GgufTokenType.Normal) continue;
            if (byteFallback && IsBytePiece(tokens[id]!)) { types[id] = GgufTokenType.Byte; continue; }
            scores[id] = firstMerge.TryGetValue(tokens[id]!, out var rank) ? -rank : -merges.Count;
        }
        return new GgufVocabulary
        {
            Model = "llama",
            PreTokenizer = "default",
            Tokens = Fill(tokens, types),
            TokenTypes = types,
            Scores = scores,
            UnknownId = unk is not null && vocab.TryGetValue(unk, out var u) ? u : null,
            AddBos = addBos,
            AddSpacePrefix = HasDummyPrefix(json),
        };
    }

    static GgufVocabulary FromVocabAndMerges(string vocabPath, string mergesPath, int vocabSize)
    {
        var vocab = (ReadObject(vocabPath) ?? []).ToDictionary(e => e.Key, e => e.Value!.GetValue<int>(), StringComparer.Ordinal);
        var size = Math.Max(vocabSize, vocab.Values.DefaultIfEmpty(-1).Max() + 1);
        if (size > vocabSize)
            throw new ModelFormatException($"'{vocabPath}' has token ids up to {size - 1}, but the model's vocab_size is {vocabSize}.");
        var tokens = new string?[size];
        var types = new GgufTokenType[size];
        foreach (var (token, id) in vocab) (tokens[id], types[id]) = (token, GgufTokenType.Normal);
        int? endOfText = vocab.TryGetValue("<|endoftext|>", out var eot) ? eot : null;
        if (endOfText is int e) types[e] = GgufTokenType.Control;
        return new GgufVocabulary
        {
            Model = "gpt2",
            PreTokenizer = "gpt-2",
            Tokens = Fill(tokens, types),
            TokenTypes = types,
            Merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList(),
            BosId = endOfText,
            EosId = endOfText,
        };
    }

    /// <summary>Ids no token uses become <c>[PADn]</c> of type unused, as llama.cpp's converter writes them.</summary>
    static string[] Fill(string?[] tokens, GgufTokenType[] types)
    {
        for (var id = 0; id < tokens.Length; id++)
        {
            if (tokens[id] is not null) continue;
            tokens[id] = string.Create(CultureInfo.InvariantCulture, $"[PAD{id}]");
            types[id] = GgufTokenType.Unused;
        }
        return tokens!;
    }

    /// <summary>Whether the pre-tokenizer is byte-level, and the regex it splits with.</summary>
    static (bool ByteLevel, string? Split) ReadPreTokenizer(JsonNode? node)
    {
        var (byteLevel, split) = (false, (string?)null);
        void Visit(JsonNode? n)
        {
            switch (n?["type"]?.GetValue<string>())
            {
                case "Sequence":
                    foreach (var inner in n["pretokenizers"] as JsonArray ?? []) Visit(inner);
                    break;
                case "Split":
                    split = n["pattern"]?["Regex"]?.GetValue<string>() ?? split;
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    if (n["use_regex"]?.GetValue<bool>() ?? true) split ??= Gpt2Split;
                    break;
            }
        }
        Visit(node);
        return (byteLevel, split);
    }

    static bool PostProcessorAddsBos(JsonNode? node) => node?["type"]?.GetValue<string>() switch
    {
        "Sequence" => (node["processors"] as JsonArray ?? []).Any(PostProcessorAddsBos),
        "TemplateProcessing" => (node["single"] as JsonArray)?.FirstOrDefault()?["SpecialToken"] is not null,
        _ => false,
    };

    static bool HasDummyPrefix(JsonObject json)
    {
        if (Normalizers(json).Any(n => n?["type"]?.GetValue<string>() == "Prepend")) return true;
        var pre = json["pre_tokenizer"];
        if (pre?["type"]?.GetValue<string>() != "Metaspace") return false;
        var scheme = pre["prepend_scheme"]?.GetValue<string>();
        return scheme is null ? pre["add_prefix_space"]?.GetValue<bool>() ?? true : scheme != "never";
    }

    /// <summary>SentencePiece style: spaces become '▁' (a Replace normalizer or a Metaspace pre-tokenizer).</summary>
    static bool MarksSpaces(JsonObject json)
    {
        return Normalizers(json).Any(n => n?["type"]?.GetValue<string>() == "Replace" && n["content"]?.GetValue<string>() == "\u2581")
            || json["pre_tokenizer"]?["type"]?.GetValue<string>() == "Metaspace";
    }

    static IEnumerable<JsonNode?> Normalizers(JsonObject json) =>
        json["normalizer"]?["normalizers"] as JsonArray ?? (IEnumerable<JsonNode?>)[json["normalizer"]];

    static bool IsBytePiece(string piece) =>
        piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>' && Uri.IsHexDigit(piece[3]) && Uri.IsHexDigit(piece[4]);

    static string? TokenText(JsonNode? node) => node switch
    {
        JsonObject o => o["content"]?.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => null,
    };

    static string? ChatTemplateOf(JsonObject tokenizerConfig) => tokenizerConfig["chat_template"] switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonArray named => (named.FirstOrDefault(t => t?["name"]?.GetValue<string>() == "default") ?? named.FirstOrDefault())?["template"]?.GetValue<string>(),
        _ => null,
    };

    static JsonObject? ReadObject(string path)
    {
        if (!File.Exists(path)) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new ModelFormatException($"'{path}' is not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"'{path}' is not valid JSON: {e.Message}", e);
        }
    }

    static ModelFormatException Unsupported(string path, string what) =>
        new($"'{path}' cannot be exported to GGUF: {what} is not supported.");
}
