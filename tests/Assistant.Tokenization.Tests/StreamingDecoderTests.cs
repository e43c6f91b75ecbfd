using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

/// <summary>Serving streams tokens: no emitted piece may hold half a character.</summary>
public sealed class StreamingDecoderTests(ReferenceTokenizers reference)
{
    private const string MultiByteText = "Ёжик 😀 в 霧 👨‍👩‍👧 — ok";

    public static TheoryData<string> TokenizerNames => ["bytes", "gpt2", "llama3", "sentencepiece"];

    [Theory]
    [MemberData(nameof(TokenizerNames))]
    public void PiecesAreWholeCharactersAndAddUpToTheText(string name)
    {
        var tokenizer = ByName(name);
        var ids = tokenizer.Encode(MultiByteText);
        var decoder = tokenizer.CreateStreamingDecoder();
        var pieces = ids.Select(decoder.Push).Append(decoder.Flush()).ToList();

        // Some token ended inside a character, so its piece was held back.
        Assert.Contains(pieces.Take(ids.Count), p => p.Length == 0);
        foreach (var piece in pieces)
        {
            Assert.DoesNotContain('\uFFFD', piece);
            Assert.False(piece.Length > 0 && char.IsLowSurrogate(piece[0]), $"piece '{piece}' starts with half a surrogate pair");
            Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]), $"piece '{piece}' ends with half a surrogate pair");
        }

        Assert.Equal(MultiByteText, string.Concat(pieces));
        Assert.Equal(tokenizer.Decode(ids), string.Concat(pieces));
    }

    [Fact]
    public void FourByteCharacterSplitIntoBytesComesOutOnItsLastByte()
    {
        var decoder = ByteTokenizer.Instance.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(0xF0));
        Assert.Equal(string.Empty, decoder.Push(0x9F));
        Assert.Equal(string.Empty, decoder.Push(0x98));
        Assert.Equal("😀", decoder.Push(0x80));
        Assert.Equal(string.Empty, decoder.Flush());
    }

    [Fact]
    public void UnfinishedCharacterBecomesReplacementOnFlushOrBeforeAControlToken()
    {
        var decoder = ByteTokenizer.Instance.CreateStreamingDecoder();
        Assert.Equal(string.Empty, decoder.Push(0xD0));
        Assert.Equal("\uFFFD<|im_end|>", decoder.Push(ByteTokenizer.ImEndId));
        Assert.Equal(string.Empty, decoder.Push(0xE2));
        Assert.Equal("\uFFFD", decoder.Flush());
    }

    private TextTokenizer ByName(string name) => name switch
    {
        "bytes" => ByteTokenizer.Instance,
        "gpt2" => Gpt2Tokenizer.Instance,
        "llama3" => reference.Llama3,
        _ => reference.SentencePiece,
    };
}
