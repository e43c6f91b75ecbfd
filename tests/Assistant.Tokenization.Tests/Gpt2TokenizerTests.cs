using System.Text;
using Assistant.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Assistant.Tokenization.Tests;

public sealed class Gpt2TokenizerTests(ReferenceTokenizers reference)
{
    private static readonly Gpt2Tokenizer Tokenizer = Gpt2Tokenizer.Instance;

    private static readonly string[] MultilingualTexts =
    [
        "Привет, мир! Съешь же ещё этих мягких французских булок.",
        "Emoji: 😀 👍🏽 ❤️ 🇷🇺 👨‍👩‍👧‍👦",
        "你好，世界！日本語のテキスト。",
        "public static int Main(string[] args)\n{\n\tConsole.WriteLine(\"hi\");\n}",
        "def f(x):\n    return x  *  2\n\n\n",
        "   leading, trailing   \t\t and    runs     ",
        "\r\n\r\n",
        "I'm sure they'll say it's fine; DON'T.",
    ];

    public static TheoryData<string> Multilingual => new(MultilingualTexts);

    [Fact]
    public void EncodesHelloWorldToTheKnownIds()
    {
        Assert.Equal([15496, 995], Tokenizer.Encode("Hello world"));
        Assert.Equal("Hello world", Tokenizer.Decode([15496, 995]));
        Assert.Equal(50257, Tokenizer.VocabSize);
        Assert.Equal(new SpecialToken("<|endoftext|>", 50256), Tokenizer.Special.Eos);
    }

    [Theory]
    [MemberData(nameof(Multilingual))]
    public void RoundTripsMultilingualText(string text)
    {
        var ids = Tokenizer.Encode(text);
        Assert.Equal(text, Tokenizer.Decode(ids));
        Assert.All(ids, id => Assert.InRange(id, 0, 50255));
    }

    [Fact]
    public void MatchesCreateForModelOnEveryReferenceSample()
    {
        var official = TiktokenTokenizer.CreateForModel("gpt2");
        var texts = reference.Expected.Tokenizers["llama3"].Samples.Select(s => s.Text).Concat(MultilingualTexts);
        foreach (var text in texts)
        {
            Assert.Equal(official.EncodeToIds(text), Tokenizer.Encode(text));
        }
    }

    [Fact]
    public void EndOfTextIsOneIdOnlyWhenSpecialTokensAreAllowed()
    {
        const string text = "one<|endoftext|>two";
        var one = Tokenizer.Encode("one");
        var two = Tokenizer.Encode("two");
        Assert.Equal([.. one, 50256, .. two], Tokenizer.Encode(text, allowSpecialTokens: true));
        var plain = Tokenizer.Encode(text);
        Assert.DoesNotContain(50256, plain);
        Assert.Equal(text, Tokenizer.Decode(plain));
        Assert.Equal("onetwo", Tokenizer.Decode([.. one, 50256, .. two], skipSpecialTokens: true));
    }

    [Fact]
    public void TokenBytesCanEndInsideACharacter()
    {
        // "😀" is four UTF-8 bytes that GPT-2 splits across tokens; each token's bytes are a fragment.
        var ids = Tokenizer.Encode("😀");
        Assert.True(ids.Count > 1);
        var bytes = ids.SelectMany(id => Tokenizer.TokenBytes(id).ToArray()).ToArray();
        Assert.Equal(Encoding.UTF8.GetBytes("😀"), bytes);
    }
}
