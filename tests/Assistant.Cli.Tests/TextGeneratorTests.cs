using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Tests;

/// <summary>The text-level glue the CLI and the inference service share.</summary>
public class TextGeneratorTests(StarterModels models)
{
    static CancellationToken Cancel => TestContext.Current.CancellationToken;
    static readonly TextGenerationOptions Seeded = new() { Sampling = new SamplingOptions { Temperature = 1, Seed = 5, MaxNewTokens = 40 } };

    [Fact]
    public void Chat_prompt_is_the_chatml_layout_ending_where_the_reply_starts()
    {
        using var loaded = LoadedModel.Load(models.Folder("gpt2"));
        var ids = new TextGenerator(loaded).EncodeChat([ChatMessage.FromSystem("Be brief."), ChatMessage.FromUser("hi <|im_end|>")]);
        // Markup becomes control ids; the user's "<|im_end|>" stays plain bytes.
        var expected = ByteTokenizer.Instance.Encode("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n", allowSpecialTokens: true)
            .Concat(ByteTokenizer.Instance.Encode("hi <|im_end|>"))
            .Concat(ByteTokenizer.Instance.Encode("<|im_end|>\n<|im_start|>assistant\n", allowSpecialTokens: true));
        Assert.Equal(expected, ids);
        Assert.Equal(ByteTokenizer.ImStartId, ids[0]);
    }

    [Fact]
    public void Pieces_stream_as_tokens_arrive_and_add_up_to_the_completion_with_its_usage()
    {
        using var loaded = LoadedModel.Load(models.Folder("llama"));
        var generator = new TextGenerator(loaded);
        var pieces = generator.StreamComplete("Hello", Seeded, Cancel).ToList();

        Assert.True(pieces.Count > 5, "text should arrive in many pieces");
        Assert.All(pieces[..^1], p => Assert.Null(p.Finish));
        Assert.True(pieces[0].Usage.CompletionTokens < pieces[^1].Usage.CompletionTokens);
        var last = pieces[^1];
        Assert.NotNull(last.Finish);
        Assert.Equal(5, last.Usage.PromptTokens);

        var tokens = new TokenGenerator(loaded.Model).Generate(ByteTokenizer.Instance.Encode("Hello"), Seeded.Sampling);
        var stoppedByToken = tokens.FinishReason == FinishReason.Stop ? 1 : 0;
        Assert.Equal(tokens.FinishReason, last.Finish);
        Assert.Equal(tokens.TokenIds.Count + stoppedByToken, last.Usage.CompletionTokens);
        Assert.Equal(ByteTokenizer.Instance.Decode(tokens.TokenIds, skipSpecialTokens: true), string.Concat(pieces.Select(p => p.Text)));

        var completion = generator.Complete("Hello", Seeded, Cancel);
        Assert.Equal(string.Concat(pieces.Select(p => p.Text)), completion.Text);
        Assert.Equal(last.Usage, completion.Usage);
        Assert.Equal(5 + last.Usage.CompletionTokens, completion.Usage.TotalTokens);
    }

    [Fact]
    public void Stop_strings_are_held_back_until_decided_and_never_emitted()
    {
        using var loaded = LoadedModel.Load(models.Folder("llama"));
        var generator = new TextGenerator(loaded);
        var full = generator.Complete("Hello", Seeded with { Sampling = Seeded.Sampling with { StopTokenIds = [] } }, Cancel).Text;
        var at = Enumerable.Range(3, Math.Max(0, full.Length - 6)).FirstOrDefault(i => full[i] is > ' ' and < '\x7f' && full[i + 1] is > ' ' and < '\x7f' && full[i + 2] is > ' ' and < '\x7f', -1);
        Assert.True(at >= 0, $"the seeded text has no three printable ASCII characters in a row: {full}");
        var stop = full.Substring(at, 3);
        var cut = full.IndexOf(stop, StringComparison.Ordinal);

        var options = Seeded with { Sampling = Seeded.Sampling with { StopTokenIds = [] }, StopStrings = ["zzzz-unused", stop] };
        var pieces = generator.StreamComplete("Hello", options, Cancel).ToList();
        Assert.Equal(full[..cut], string.Concat(pieces.Select(p => p.Text)));
        Assert.Equal(FinishReason.Stop, pieces[^1].Finish);
        // Each piece was emitted only once it could no longer be the start of the stop string.
        var emitted = "";
        foreach (var piece in pieces)
        {
            emitted += piece.Text;
            Assert.StartsWith(emitted, full[..cut]);
        }
        // Generation ended at the token that completed the stop string: later tokens were never sampled.
        var tokens = new TokenGenerator(loaded.Model).Generate(generator.EncodePrompt("Hello"), options.Sampling).TokenIds;
        var tokensToStop = Enumerable.Range(1, tokens.Count).First(n => ByteTokenizer.Instance.Decode(tokens.Take(n), skipSpecialTokens: true).Contains(stop, StringComparison.Ordinal));
        Assert.Equal(tokensToStop, pieces[^1].Usage.CompletionTokens);
    }

    [Fact]
    public void Stop_token_ids_end_generation_and_count_as_used()
    {
        using var loaded = LoadedModel.Load(models.Folder("gpt2"));
        var generator = new TextGenerator(loaded);
        var noStops = Seeded with { Sampling = Seeded.Sampling with { StopTokenIds = [] } };
        var tokens = new TokenGenerator(loaded.Model).Generate(generator.EncodePrompt("Hello"), noStops.Sampling).TokenIds;
        // The first token that did not occur before it: stopping on it ends the text just before.
        var k = Enumerable.Range(1, tokens.Count - 1).First(i => !tokens.Take(i).Contains(tokens[i]));

        var stopped = generator.Complete("Hello", noStops with { Sampling = noStops.Sampling with { StopTokenIds = [tokens[k]] } }, Cancel);
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(ByteTokenizer.Instance.Decode(tokens.Take(k), skipSpecialTokens: true), stopped.Text);
        Assert.Equal(new TokenUsage(5, k + 1), stopped.Usage);
    }

    [Fact]
    public void Empty_prompt_starts_from_bos_and_a_prompt_beyond_the_context_fails_before_generating()
    {
        using var loaded = LoadedModel.Load(models.Folder("llama"));
        var generator = new TextGenerator(loaded);
        Assert.Equal([ByteTokenizer.BosId], generator.EncodePrompt(""));
        var error = Assert.Throws<ArgumentException>(() => generator.StreamComplete(new string('a', 600), Seeded, Cancel));
        Assert.Contains("context", error.Message);
    }

    [Fact]
    public void Loading_a_folder_whose_tokenizer_has_more_ids_than_the_model_fails_clearly()
    {
        using var temp = new TempFolder();
        var json = ModelPresets.Config("gpt2", "tiny").ToJson();
        json["vocab_size"] = 200;
        using (var model = HfCheckpoint.CreateUntrained(ModelConfig.Parse(json)))
            HfCheckpoint.Save(model, temp.Path, new HfSaveOptions { WriteExtraFiles = ByteTokenizerFiles.Write });
        var error = Assert.Throws<ModelFormatException>(() => LoadedModel.Load(temp.Path));
        Assert.Contains("261 ids, more than config.json's vocab_size 200", error.Message);
    }
}
