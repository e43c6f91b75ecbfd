using System.Text;
using Microsoft.ML.Tokenizers;

namespace Assistant.Tokenization;

/// <summary>
/// A Hugging Face byte-level BPE (GPT-2, Llama 3, Qwen, Falcon, GPT-NeoX style) from <c>tokenizer.json</c>
/// or <c>vocab.json</c> + <c>merges.txt</c>, run by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// </summary>
/// <remarks>
/// Built with <see cref="BpeTokenizer.Create(BpeOptions)"/> and <c>ByteLevel = true</c>: the file-path
/// overload of <c>BpeTokenizer.Create</c> silently drops byte-level mode and gets almost every id wrong.
/// </remarks>
public sealed class ByteLevelBpeTokenizer : TextTokenizer
{
    private readonly BpeTokenizer bpe;
    private readonly IsolatingRegexPreTokenizer preTokenizer;
    private readonly Dictionary<string, int>? wholeWords;
    private readonly ReadOnlyMemory<byte>[] tokenBytes;
    private readonly bool addPrefixSpace;
    private readonly NormalizationForm? normalization;

    internal ByteLevelBpeTokenizer(
        IReadOnlyDictionary<string, int> vocab,
        IEnumerable<string> merges,
        string splitPattern,
        bool addPrefixSpace,
        NormalizationForm? normalization,
        bool ignoreMerges,
        IEnumerable<AddedToken> addedTokens,
        SpecialTokens special,
        bool addBos)
        : base(addedTokens, special, addBos)
    {
        // Added tokens are split out before the BPE runs, so they stay out of its vocabulary.
        var added = AddedTokens.Select(t => t.Content).ToHashSet(StringComparer.Ordinal);
        var modelVocab = vocab.Where(e => !added.Contains(e.Key)).ToArray();
        preTokenizer = new IsolatingRegexPreTokenizer(PreTokenizerPatterns.Compile(splitPattern));
        bpe = BpeTokenizer.Create(new BpeOptions(modelVocab) { Merges = merges, ByteLevel = true, PreTokenizer = preTokenizer });
        wholeWords = ignoreMerges ? modelVocab.ToDictionary(StringComparer.Ordinal) : null;
        this.addPrefixSpace = addPrefixSpace;
        this.normalization = normalization;

        VocabSize = Math.Max(vocab.Values.DefaultIfEmpty(-1).Max(), AddedTokens.Select(t => t.Id).DefaultIfEmpty(-1).Max()) + 1;
        tokenBytes = new ReadOnlyMemory<byte>[VocabSize];
        foreach (var (token, id) in vocab)
        {
            tokenBytes[id] = ByteLevelAlphabet.ToBytes(token) ?? Encoding.UTF8.GetBytes(token);
        }
    }

    /// <inheritdoc />
    public override string Kind => "byte-level-bpe";

    /// <inheritdoc />
    public override int VocabSize { get; }

    private protected override void EncodeOrdinary(string text, TextPosition position, List<int> ids)
    {
        if (normalization is { } form)
        {
            text = text.Normalize(form);
        }

        if (addPrefixSpace && position != TextPosition.Continuation && !text.StartsWith(' '))
        {
            text = " " + text;
        }

        if (wholeWords is null)
        {
            ids.AddRange(bpe.EncodeToIds(text));
            return;
        }

        // "ignore_merges" (Llama 3): a pre-token that is itself in the vocabulary is that one token, even
        // where the merges would split it (588 of Llama 3's tokens, e.g. " Việt", "lardan").
        foreach (var (offset, length) in preTokenizer.PreTokenize(text))
        {
            var piece = text.Substring(offset, length);
            if (wholeWords.TryGetValue(ByteLevelAlphabet.ToToken(Encoding.UTF8.GetBytes(piece)), out var id))
            {
                ids.Add(id);
            }
            else
            {
                ids.AddRange(bpe.EncodeToIds(piece, considerPreTokenization: false, considerNormalization: false));
            }
        }
    }

    private protected override ReadOnlyMemory<byte> OrdinaryTokenBytes(int id) =>
        id < tokenBytes.Length ? tokenBytes[id] : ReadOnlyMemory<byte>.Empty;
}
