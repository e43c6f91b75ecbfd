using System.Text;
using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

public sealed class ByteTokenizerTests
{
    private static readonly ByteTokenizer Tokenizer = ByteTokenizer.Instance;

    [Fact]
    public void LayoutIsBytesThenFiveControlTokens()
    {
        Assert.Equal(261, ByteTokenizer.VocabularySize);
        Assert.Equal(ByteTokenizer.VocabularySize, Tokenizer.VocabSize);
        Assert.Equal(new SpecialToken("<|bos|>", 256), Tokenizer.Special.Bos);
        Assert.Equal(new SpecialToken("<|endoftext|>", 257), Tokenizer.Special.Eos);
        Assert.Equal(new SpecialToken("<|pad|>", 258), Tokenizer.Special.Pad);
        Assert.Null(Tokenizer.Special.Unk);
        Assert.Equal(["<|bos|>", "<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_end|>"], Tokenizer.AddedTokens.Select(t => t.Content));
        Assert.Equal([256, 257, 258, 259, 260], Tokenizer.AddedTokens.Select(t => t.Id));
        Assert.False(Tokenizer.AddBos);
    }

    [Theory]
    [InlineData("Hello world")]
    [InlineData("Привет, мир! ёЁ")]
    [InlineData("😀👨‍👩‍👧‍👦🇷🇺 你好")]
    [InlineData("tabs\tand\r\nnewlines\n\n  spaces  ")]
    [InlineData("")]
    public void EncodesUtf8BytesAndRoundTrips(string text)
    {
        var ids = Tokenizer.Encode(text);
        Assert.Equal(Encoding.UTF8.GetBytes(text).Select(b => (int)b), ids);
        Assert.Equal(text, Tokenizer.Decode(ids));
    }

    [Fact]
    public void ArbitraryBytesDecodeLikeUtf8WithReplacement()
    {
        var random = new Random(1234);
        for (var round = 0; round < 200; round++)
        {
            var bytes = new byte[random.Next(1, 64)];
            random.NextBytes(bytes);
            Assert.Equal(Encoding.UTF8.GetString(bytes), Tokenizer.Decode(bytes.Select(b => (int)b)));
        }
    }

    [Fact]
    public void ControlTokensAreSingleIdsOnlyWhenAllowed()
    {
        const string text = "<|im_start|>user\nhi<|im_end|><|endoftext|>";
        var allowed = Tokenizer.Encode(text, allowSpecialTokens: true);
        Assert.Equal([259, .. "user\nhi"u8.ToArray().Select(b => (int)b), 260, 257], allowed);

        var plain = Tokenizer.Encode(text);
        Assert.All(plain, id => Assert.InRange(id, 0, 255));
        Assert.Equal(text, Tokenizer.Decode(plain));

        Assert.Equal(text, Tokenizer.Decode(allowed));
        Assert.Equal("user\nhi", Tokenizer.Decode(allowed, skipSpecialTokens: true));
        Assert.Equal([256, 104, 105], Tokenizer.Encode("hi", addBos: true));
    }
}
