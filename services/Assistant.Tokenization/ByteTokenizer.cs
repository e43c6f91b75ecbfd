namespace Assistant.Tokenization;

/// <summary>
/// The built-in starter model's tokenizer: one id per byte of UTF-8, then five control tokens. It needs
/// no vocabulary file, encodes any text losslessly and never meets an unknown character.
/// </summary>
/// <remarks>
/// The layout is fixed (a trained starter model depends on it):
/// <list type="table">
/// <item><term>0..255</term><description>the byte with that value</description></item>
/// <item><term>256</term><description><c>&lt;|bos|&gt;</c> (bos)</description></item>
/// <item><term>257</term><description><c>&lt;|endoftext|&gt;</c> (eos, also between packed documents)</description></item>
/// <item><term>258</term><description><c>&lt;|pad|&gt;</c> (pad)</description></item>
/// <item><term>259</term><description><c>&lt;|im_start|&gt;</c> (ChatML turn start)</description></item>
/// <item><term>260</term><description><c>&lt;|im_end|&gt;</c> (ChatML turn end)</description></item>
/// </list>
/// <see cref="VocabularySize"/> = 261 is the starter model's embedding size. No bos is added by default.
/// </remarks>
public sealed class ByteTokenizer : TextTokenizer
{
    /// <summary>The first id after the 256 byte ids.</summary>
    public const int FirstControlId = 256;

    /// <summary>Id of <see cref="BosText"/>.</summary>
    public const int BosId = 256;

    /// <summary>Id of <see cref="EosText"/>.</summary>
    public const int EosId = 257;

    /// <summary>Id of <see cref="PadText"/>.</summary>
    public const int PadId = 258;

    /// <summary>Id of <see cref="ImStartText"/>.</summary>
    public const int ImStartId = 259;

    /// <summary>Id of <see cref="ImEndText"/>.</summary>
    public const int ImEndId = 260;

    /// <summary>Number of ids: the starter model's vocabulary size.</summary>
    public const int VocabularySize = 261;

    /// <summary>Beginning of a document.</summary>
    public const string BosText = "<|bos|>";

    /// <summary>End of a document or of generation.</summary>
    public const string EosText = "<|endoftext|>";

    /// <summary>Padding.</summary>
    public const string PadText = "<|pad|>";

    /// <summary>ChatML: starts a turn.</summary>
    public const string ImStartText = "<|im_start|>";

    /// <summary>ChatML: ends a turn.</summary>
    public const string ImEndText = "<|im_end|>";

    /// <summary>The value that marks a model folder as using this tokenizer (key <c>assistant_tokenizer</c> in <c>tokenizer_config.json</c>).</summary>
    public const string FormatName = "assistant-bytes-v1";

    private static readonly ReadOnlyMemory<byte>[] Bytes = Enumerable.Range(0, 256).Select(b => (ReadOnlyMemory<byte>)new[] { (byte)b }).ToArray();

    private ByteTokenizer()
        : base(ControlTokens, new SpecialTokens(new(BosText, BosId), new(EosText, EosId), new(PadText, PadId), null), addBos: false)
    {
    }

    /// <summary>The control tokens in id order.</summary>
    public static IReadOnlyList<AddedToken> ControlTokens { get; } =
    [
        new(BosText, BosId, IsSpecial: true),
        new(EosText, EosId, IsSpecial: true),
        new(PadText, PadId, IsSpecial: true),
        new(ImStartText, ImStartId, IsSpecial: true),
        new(ImEndText, ImEndId, IsSpecial: true),
    ];

    /// <summary>The byte tokenizer (stateless, thread-safe).</summary>
    public static ByteTokenizer Instance { get; } = new();

    /// <inheritdoc />
    public override string Kind => "bytes";

    /// <inheritdoc />
    public override int VocabSize => VocabularySize;

    private protected override void EncodeOrdinary(string text, TextPosition position, List<int> ids)
    {
        foreach (var b in System.Text.Encoding.UTF8.GetBytes(text))
        {
            ids.Add(b);
        }
    }

    private protected override ReadOnlyMemory<byte> OrdinaryTokenBytes(int id) =>
        id < FirstControlId ? Bytes[id] : ReadOnlyMemory<byte>.Empty;
}
