using System.Text;
using Microsoft.ML.Tokenizers;

namespace Assistant.Tokenization;

/// <summary>
/// A SentencePiece BPE model (<c>tokenizer.model</c>, Llama 2 / Mistral / TinyLlama style: '▁' for spaces,
/// a dummy space prefix, byte fallback), run by Microsoft.ML.Tokenizers' <see cref="LlamaTokenizer"/>.
/// </summary>
/// <remarks>
/// Like Hugging Face's (legacy) Llama tokenizer, every run of text after a special token gets the dummy
/// prefix again ("&lt;s&gt;[INST]" encodes "▁["); with <c>legacy: false</c> only the start of the text does.
/// Decoding drops the one space the prefix put at the start of the output.
/// </remarks>
public sealed class SentencePieceBpeTokenizer : TextTokenizer
{
    private readonly LlamaTokenizer model;
    private readonly SentencePieceNormalizer withPrefix;
    private readonly SentencePieceNormalizer withoutPrefix;
    private readonly bool dummyPrefixEveryRun;
    private readonly ReadOnlyMemory<byte>[] tokenBytes;

    internal SentencePieceBpeTokenizer(LlamaTokenizer model, IEnumerable<AddedToken> addedTokens, SpecialTokens special, bool addBos, bool dummyPrefixEveryRun)
        : base(addedTokens, special, addBos)
    {
        if (model.TreatWhitespaceAsSuffix || !model.EscapeWhiteSpaces)
        {
            throw new NotSupportedException("SentencePiece models that treat whitespace as a suffix or keep raw spaces are not supported.");
        }

        this.model = model;
        this.dummyPrefixEveryRun = dummyPrefixEveryRun;
        var removeExtraWhitespaces = model.Normalizer is SentencePieceNormalizer n && n.RemoveExtraWhiteSpaces;
        withPrefix = new SentencePieceNormalizer(removeExtraWhitespaces, addDummyPrefix: true, escapeWhiteSpaces: true, treatWhitespaceAsSuffix: false, specialTokens: null);
        withoutPrefix = new SentencePieceNormalizer(removeExtraWhitespaces, addDummyPrefix: false, escapeWhiteSpaces: true, treatWhitespaceAsSuffix: false, specialTokens: null);

        var size = Math.Max(model.Vocabulary.Values.Max(), AddedTokens.Select(t => t.Id).DefaultIfEmpty(-1).Max()) + 1;
        tokenBytes = new ReadOnlyMemory<byte>[size];
        foreach (var (piece, id) in model.Vocabulary)
        {
            tokenBytes[id] = model.ByteFallback && SentencePieceModelWriter.IsBytePiece(piece)
                ? new[] { Convert.ToByte(piece.Substring(3, 2), 16) }
                : Encoding.UTF8.GetBytes(piece.Replace('\u2581', ' '));
        }

        VocabSize = size;
    }

    /// <inheritdoc />
    public override string Kind => "sentencepiece";

    /// <inheritdoc />
    public override int VocabSize { get; }

    internal override bool StripsLeadingSpace => model.AddDummyPrefix;

    /// <summary>Builds the Microsoft.ML.Tokenizers model from a <c>tokenizer.model</c> stream.</summary>
    internal static LlamaTokenizer LoadModel(Stream modelProto) =>
        LlamaTokenizer.Create(modelProto, addBeginOfSentence: false, addEndOfSentence: false);

    private protected override void EncodeOrdinary(string text, TextPosition position, List<int> ids)
    {
        var prefix = model.AddDummyPrefix
            && (position == TextPosition.TextStart || position == TextPosition.AfterAddedToken && dummyPrefixEveryRun);
        var normalized = (prefix ? withPrefix : withoutPrefix).Normalize(text);
        ids.AddRange(model.EncodeToIds(normalized, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false));
    }

    private protected override ReadOnlyMemory<byte> OrdinaryTokenBytes(int id) =>
        id < tokenBytes.Length ? tokenBytes[id] : ReadOnlyMemory<byte>.Empty;
}
