using System.Text;

namespace Assistant.Tokenization;

/// <summary>
/// Turns text into token ids and back, the one tokenizer type training, serving and dataset statistics
/// use. Implementations: <see cref="Gpt2Tokenizer"/>, <see cref="ByteLevelBpeTokenizer"/> (Hugging Face
/// <c>tokenizer.json</c> or <c>vocab.json</c> + <c>merges.txt</c>), <see cref="SentencePieceBpeTokenizer"/>
/// (<c>tokenizer.model</c>) and <see cref="ByteTokenizer"/> (the starter model). Load one for a model
/// folder with <see cref="TokenizerLoader.FromModelFolder"/>.
/// </summary>
/// <remarks>
/// Every id stands for a byte string (<see cref="TokenBytes"/>); decoding concatenates those bytes and
/// reads them as UTF-8, so <see cref="Decode"/> and <see cref="StreamingDecoder"/> agree by construction.
/// </remarks>
public abstract class TextTokenizer
{
    private static readonly Func<AddedToken, int, bool> AllowAll = (_, _) => true;
    private static readonly Func<AddedToken, int, bool> AllowNone = (_, _) => false;

    private readonly AddedTokenMatcher addedTokenMatcher;
    private readonly Dictionary<int, AddedToken> addedTokensById;

    private protected TextTokenizer(IEnumerable<AddedToken> addedTokens, SpecialTokens special, bool addBos)
    {
        AddedTokens = addedTokens.OrderBy(t => t.Id).ToArray();
        addedTokensById = AddedTokens.GroupBy(t => t.Id).ToDictionary(g => g.Key, g => g.First());
        addedTokenMatcher = new AddedTokenMatcher(AddedTokens);
        Special = special;
        AddBos = addBos;
        if (addBos && special.Bos is null)
        {
            throw new ArgumentException("A tokenizer that adds a bos token needs one.", nameof(addBos));
        }
    }

    /// <summary>What kind of tokenizer this is, for logs and lineage (e.g. "gpt2", "sentencepiece").</summary>
    public abstract string Kind { get; }

    /// <summary>One more than the largest id this tokenizer can produce; a model's embedding needs at least this many rows.</summary>
    public abstract int VocabSize { get; }

    /// <summary>bos, eos, pad and unk, where the tokenizer has them.</summary>
    public SpecialTokens Special { get; }

    /// <summary>Every token matched from its text as one id, ordered by id (specials included).</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Whether this model expects a bos id before each document (<c>add_bos_token</c>); pass it to <see cref="Encode"/>.</summary>
    public bool AddBos { get; }

    /// <summary>Whether decoding drops the space SentencePiece put in front of the text (its dummy prefix).</summary>
    internal virtual bool StripsLeadingSpace => false;

    /// <summary>
    /// Encodes text to ids, with the bos id first when <paramref name="addBos"/> (pass <see cref="AddBos"/>
    /// for a whole document). Special-token strings in the text (e.g. "&lt;|im_end|&gt;") become their single
    /// ids only when <paramref name="allowSpecialTokens"/> is true; otherwise they are encoded as the plain
    /// characters they are, so user data cannot inject control tokens. Non-special added tokens are always
    /// recognised, as in Hugging Face.
    /// </summary>
    public IReadOnlyList<int> Encode(string text, bool allowSpecialTokens = false, bool addBos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos)
        {
            ids.Add(Special.Bos?.Id ?? throw new InvalidOperationException($"The {Kind} tokenizer has no bos token."));
        }

        var position = TextPosition.TextStart;
        EncodeInto(text, allowSpecialTokens, ref position, ids);
        return ids;
    }

    /// <summary>Decodes ids to text; bytes that do not form valid UTF-8 become U+FFFD.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var decoder = CreateStreamingDecoder(skipSpecialTokens);
        var text = new StringBuilder();
        foreach (var id in ids)
        {
            text.Append(decoder.Push(id));
        }

        text.Append(decoder.Flush());
        return text.ToString();
    }

    /// <summary>A decoder for a stream of ids (serving) that never emits half a UTF-8 character.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>The bytes id stands for (UTF-8 of the text for added tokens); empty for ids no token uses.</summary>
    public ReadOnlyMemory<byte> TokenBytes(int id)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        return addedTokensById.TryGetValue(id, out var added) ? Encoding.UTF8.GetBytes(added.Content) : OrdinaryTokenBytes(id);
    }

    /// <summary>The added token with this id, if it is one.</summary>
    public AddedToken? AddedTokenFor(int id) => addedTokensById.GetValueOrDefault(id);

    /// <summary>
    /// Encodes text after earlier text of the same sequence; <paramref name="position"/> carries where the
    /// previous call stopped so that SentencePiece adds its dummy prefix only where whole-text encoding would.
    /// A special token is matched where <paramref name="allowSpecialAt"/> (token, start index) says so.
    /// </summary>
    internal void EncodeInto(string text, Func<AddedToken, int, bool> allowSpecialAt, ref TextPosition position, List<int> ids)
    {
        var runStart = 0;
        foreach (var (start, token) in addedTokenMatcher.Find(text, (token, start) => !token.IsSpecial || allowSpecialAt(token, start)))
        {
            if (start > runStart)
            {
                EncodeOrdinary(text[runStart..start], position, ids);
            }

            ids.Add(token.Id);
            position = TextPosition.AfterAddedToken;
            runStart = start + token.Content.Length;
        }

        if (runStart < text.Length)
        {
            EncodeOrdinary(text[runStart..], position, ids);
            position = TextPosition.Continuation;
        }
    }

    internal void EncodeInto(string text, bool allowSpecialTokens, ref TextPosition position, List<int> ids) =>
        EncodeInto(text, allowSpecialTokens ? AllowAll : AllowNone, ref position, ids);

    /// <summary>Encodes a non-empty run of text that holds no added token.</summary>
    private protected abstract void EncodeOrdinary(string text, TextPosition position, List<int> ids);

    /// <summary>The bytes of a vocabulary token (not an added token); empty when no token has this id.</summary>
    private protected abstract ReadOnlyMemory<byte> OrdinaryTokenBytes(int id);
}
