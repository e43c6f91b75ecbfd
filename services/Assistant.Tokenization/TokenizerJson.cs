using System.Text;
using System.Text.Json;

namespace Assistant.Tokenization;

/// <summary>
/// What this platform reads from a Hugging Face <c>tokenizer.json</c> (BPE models only). Parsed by hand:
/// Microsoft.ML.Tokenizers has no loader for the format. Anything that would change the ids and is not
/// understood is refused with a message naming it, rather than tokenizing differently from the model.
/// </summary>
internal sealed record TokenizerJson(
    BpeFamily Family,
    Dictionary<string, int> Vocab,
    List<string> Merges,
    string? SplitPattern,
    bool AddPrefixSpace,
    NormalizationForm? Normalization,
    bool ByteFallback,
    bool IgnoreMerges,
    string? UnkToken,
    bool DummyPrefix,
    bool DummyPrefixEveryRun,
    IReadOnlyList<AddedToken> AddedTokens,
    string? PostProcessorBos)
{
    private const char Metaspace = '\u2581';

    public static TokenizerJson Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Parse(stream, path);
    }

    public static TokenizerJson Parse(Stream stream, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
            return new Parser(document.RootElement).Build();
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidDataException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    private sealed class Parser(JsonElement root)
    {
        private bool byteLevel;
        private bool sentencePieceMarkers;
        private bool addPrefixSpace;
        private string? splitPattern;
        private NormalizationForm? normalization;
        private bool dummyPrefix;
        private bool dummyPrefixEveryRun = true;

        public TokenizerJson Build()
        {
            var model = root.Required("model");
            var type = model.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (type is not null && type != "BPE")
            {
                throw new NotSupportedException($"model type '{type}' is not supported (only BPE)");
            }

            foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            {
                if (model.TryGetProperty(affix, out var value) && value.ValueKind == JsonValueKind.String && value.GetString()!.Length > 0)
                {
                    throw new NotSupportedException($"model.{affix} is not supported");
                }
            }

            ReadNormalizer(Property(root, "normalizer"));
            ReadPreTokenizer(Property(root, "pre_tokenizer"));
            var byteFallback = Property(model, "byte_fallback") is { ValueKind: JsonValueKind.True };
            sentencePieceMarkers |= byteFallback;

            BpeFamily family;
            if (byteLevel)
            {
                family = BpeFamily.ByteLevel;
            }
            else if (sentencePieceMarkers)
            {
                family = BpeFamily.SentencePiece;
            }
            else
            {
                throw new NotSupportedException("the BPE is neither byte-level (ByteLevel pre-tokenizer) nor SentencePiece-style (▁ spaces, byte fallback)");
            }

            return new TokenizerJson(
                family,
                ReadVocab(model.Required("vocab")),
                ReadMerges(model.Required("merges")),
                splitPattern,
                addPrefixSpace,
                normalization,
                byteFallback,
                Property(model, "ignore_merges") is { ValueKind: JsonValueKind.True },
                Property(model, "unk_token")?.GetString(),
                dummyPrefix,
                dummyPrefixEveryRun,
                ReadAddedTokens(),
                ReadPostProcessorBos(Property(root, "post_processor")));
        }

        private static JsonElement? Property(JsonElement element, string name) =>
            element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

        private void ReadNormalizer(JsonElement? normalizer)
        {
            if (normalizer is not { } n)
            {
                return;
            }

            switch (n.Required("type").GetString())
            {
                case "Sequence":
                    foreach (var inner in n.Required("normalizers").EnumerateArray())
                    {
                        ReadNormalizer(inner);
                    }

                    break;
                case "NFC":
                    normalization = NormalizationForm.FormC;
                    break;
                case "NFKC":
                    normalization = NormalizationForm.FormKC;
                    break;
                case "NFD":
                    normalization = NormalizationForm.FormD;
                    break;
                case "NFKD":
                    normalization = NormalizationForm.FormKD;
                    break;
                case "Prepend" when n.Required("prepend").GetString() == Metaspace.ToString():
                    dummyPrefix = true;
                    sentencePieceMarkers = true;
                    break;
                case "Replace" when PatternString(n) == " " && n.Required("content").GetString() == Metaspace.ToString():
                    sentencePieceMarkers = true;
                    break;
                case var other:
                    throw new NotSupportedException($"normalizer '{other}' is not supported");
            }
        }

        private void ReadPreTokenizer(JsonElement? preTokenizer)
        {
            if (preTokenizer is not { } p)
            {
                return;
            }

            switch (p.Required("type").GetString())
            {
                case "Sequence":
                    foreach (var inner in p.Required("pretokenizers").EnumerateArray())
                    {
                        ReadPreTokenizer(inner);
                    }

                    break;
                case "Split":
                    if (splitPattern is not null)
                    {
                        throw new NotSupportedException("more than one Split pre-tokenizer is not supported");
                    }

                    var behavior = p.TryGetProperty("behavior", out var b) ? b.GetString() : "Isolated";
                    if (behavior != "Isolated" || p.TryGetProperty("invert", out var invert) && invert.GetBoolean())
                    {
                        throw new NotSupportedException($"Split pre-tokenizer behavior '{behavior}' (or invert) is not supported");
                    }

                    var pattern = p.Required("pattern");
                    splitPattern = pattern.TryGetProperty("Regex", out var regex)
                        ? regex.GetString()
                        : System.Text.RegularExpressions.Regex.Escape(pattern.Required("String").GetString()!);
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    addPrefixSpace |= p.TryGetProperty("add_prefix_space", out var prefix) && prefix.GetBoolean();
                    var useRegex = !p.TryGetProperty("use_regex", out var use) || use.GetBoolean();
                    if (useRegex)
                    {
                        if (splitPattern is not null)
                        {
                            throw new NotSupportedException("a Split pre-tokenizer followed by a ByteLevel one with use_regex is not supported");
                        }

                        splitPattern = PreTokenizerPatterns.Gpt2;
                    }

                    break;
                case "Metaspace":
                    sentencePieceMarkers = true;
                    var scheme = p.TryGetProperty("prepend_scheme", out var s) ? s.GetString() : null;
                    var legacyPrefix = !p.TryGetProperty("add_prefix_space", out var add) || add.GetBoolean();
                    dummyPrefix = scheme is null ? legacyPrefix : scheme != "never";
                    dummyPrefixEveryRun = scheme is null or "always";
                    break;
                case var other:
                    throw new NotSupportedException($"pre-tokenizer '{other}' is not supported");
            }
        }

        private static string? PatternString(JsonElement element) =>
            element.TryGetProperty("pattern", out var pattern) && pattern.TryGetProperty("String", out var s) ? s.GetString() : null;

        private static Dictionary<string, int> ReadVocab(JsonElement vocab)
        {
            var result = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in vocab.EnumerateObject())
            {
                result[entry.Name] = entry.Value.GetInt32();
            }

            return result;
        }

        // Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer files, which allow spaces in tokens).
        private static List<string> ReadMerges(JsonElement merges)
        {
            var result = new List<string>(merges.GetArrayLength());
            foreach (var merge in merges.EnumerateArray())
            {
                if (merge.ValueKind == JsonValueKind.String)
                {
                    result.Add(merge.GetString()!);
                    continue;
                }

                var left = merge[0].GetString()!;
                var right = merge[1].GetString()!;
                if (left.Contains(' ') || right.Contains(' '))
                {
                    throw new NotSupportedException($"merge [\"{left}\", \"{right}\"] has a token with a space");
                }

                result.Add($"{left} {right}");
            }

            return result;
        }

        private List<AddedToken> ReadAddedTokens()
        {
            var result = new List<AddedToken>();
            if (Property(root, "added_tokens") is not { } added)
            {
                return result;
            }

            foreach (var token in added.EnumerateArray())
            {
                var special = token.TryGetProperty("special", out var s) && s.GetBoolean();
                result.Add(new AddedToken(token.Required("content").GetString()!, token.Required("id").GetInt32(), special));
            }

            return result;
        }

        // A TemplateProcessing post-processor whose single-sequence template starts with a special token adds bos.
        private static string? ReadPostProcessorBos(JsonElement? processor)
        {
            if (processor is not { } p)
            {
                return null;
            }

            switch (p.Required("type").GetString())
            {
                case "Sequence":
                    return p.Required("processors").EnumerateArray().Select(inner => ReadPostProcessorBos(inner)).FirstOrDefault(bos => bos is not null);
                case "TemplateProcessing":
                    var first = p.Required("single").EnumerateArray().FirstOrDefault();
                    return first.ValueKind == JsonValueKind.Object && first.TryGetProperty("SpecialToken", out var special)
                        ? special.Required("id").GetString()
                        : null;
                default:
                    return null;
            }
        }
    }
}
