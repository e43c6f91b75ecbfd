using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

/// <summary>Meta Llama 3's tokenizer.json, loaded by our parser, against ids from transformers.js.</summary>
public sealed class HuggingFaceTokenizerJsonTests(ReferenceTokenizers reference)
{
    private ExpectedIdsForTokenizer Expected => reference.Expected.Tokenizers["llama3"];

    [Fact]
    public void Llama3MatchesTransformersJsOnEverySample()
    {
        var tokenizer = reference.Llama3;
        var mismatches = Expected.Samples
            .Where(s => !tokenizer.Encode(s.Text).SequenceEqual(s.Ids))
            .Select(s => $"{s.Text}: expected [{string.Join(",", s.Ids)}] got [{string.Join(",", tokenizer.Encode(s.Text))}]")
            .ToList();
        Assert.True(Expected.Samples.Count >= 50);
        Assert.Empty(mismatches);
    }

    [Fact]
    public void Llama3RecognisesSpecialTokensOnlyWhenAllowed()
    {
        var tokenizer = reference.Llama3;
        foreach (var sample in Expected.SpecialSamples)
        {
            Assert.Equal(sample.Ids, tokenizer.Encode(sample.Text, allowSpecialTokens: true));
            var plain = tokenizer.Encode(sample.Text);
            Assert.DoesNotContain(plain, id => id >= 128000);
            Assert.Equal(sample.Text, tokenizer.Decode(plain));
        }
    }

    [Fact]
    public void Llama3SpecialTokensAndSizesComeFromTheFiles()
    {
        var tokenizer = reference.Llama3;
        Assert.IsType<ByteLevelBpeTokenizer>(tokenizer);
        Assert.Equal(128256, tokenizer.VocabSize);
        Assert.Equal(new SpecialToken("<|begin_of_text|>", 128000), tokenizer.Special.Bos);
        Assert.Equal(new SpecialToken("<|end_of_text|>", 128001), tokenizer.Special.Eos);
        Assert.Null(tokenizer.Special.Pad);
        Assert.Equal(256, tokenizer.AddedTokens.Count);
        Assert.Equal(128009, tokenizer.Encode("<|eot_id|>", allowSpecialTokens: true).Single());
    }

    [Fact]
    public void Llama3RoundTripsEverySample()
    {
        foreach (var sample in Expected.Samples)
        {
            Assert.Equal(sample.Text, reference.Llama3.Decode(sample.Ids));
        }
    }
}
