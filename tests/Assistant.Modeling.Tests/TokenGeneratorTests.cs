using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

public class TokenGeneratorTests
{
    static readonly int[] NoStop = [];
    static CancellationToken Cancel => TestContext.Current.CancellationToken;

    static CausalLM Tiny(string architecture) => ModelPresets.Build(architecture, "tiny", 11);

    static int[] Prompt(int length, int salt) =>
        [StarterVocabulary.Bos, .. Enumerable.Range(0, length - 1).Select(i => (i * 37 + salt * 101) % 256)];

    /// <summary>Greedy decoding the slow way: the whole sequence through the model for every token, no cache.</summary>
    static List<int> GreedyByRecomputation(CausalLM model, IReadOnlyList<int> prompt, int count)
    {
        var ids = prompt.ToList();
        for (var i = 0; i < count; i++)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var logits = model.forward(tensor(ids.Select(t => (long)t).ToArray(), [1, ids.Count]));
            ids.Add((int)logits[0, -1].argmax().item<long>());
        }
        return ids.Skip(prompt.Count).ToList();
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Cached_greedy_decoding_equals_recomputation_token_for_token(string architecture)
    {
        using var model = Tiny(architecture);
        var prompt = Prompt(7, 1);
        var generated = new TokenGenerator(model).Generate(prompt, SamplingOptions.Greedy(24) with { StopTokenIds = NoStop });
        Assert.Equal(FinishReason.Length, generated.FinishReason);
        Assert.Equal(GreedyByRecomputation(model, prompt, 24), generated.TokenIds);
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Batch_of_different_lengths_decodes_each_prompt_as_if_alone(string architecture)
    {
        using var model = Tiny(architecture);
        var generator = new TokenGenerator(model);
        var options = SamplingOptions.Greedy(16) with { StopTokenIds = NoStop };
        int[][] prompts = [Prompt(3, 2), Prompt(11, 3), Prompt(6, 4)];
        var batch = generator.GenerateBatch(prompts, options);
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(generator.Generate(prompts[i], options).TokenIds, batch[i].TokenIds);
            Assert.Equal(GreedyByRecomputation(model, prompts[i], 16), batch[i].TokenIds);
        }
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Chunk_after_a_cached_prefix_and_left_padded_rows_match_the_full_forward(string architecture)
    {
        using var model = Tiny(architecture);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(Prompt(12, 5).Select(t => (long)t).ToArray(), [1, 12]);
        var full = model.forward(ids);

        // Prefix of 5, then a chunk of 7: the chunk needs a bottom-right-aligned causal mask.
        using (var cache = model.CreateCache(1, 16))
        {
            model.forward(ids.narrow(1, 0, 5), null, cache);
            var chunk = model.forward(ids.narrow(1, 5, 7), null, cache);
            Assert.Equal(12, cache.Length);
            Assert.True(TensorAssert.MaxAbsDiff(full.narrow(1, 5, 7), chunk) < 1e-4f);
        }

        // The same 12 tokens left-padded by 4 next to a full row, without a cache.
        var padded = cat([full_like(ids.narrow(1, 0, 4), StarterVocabulary.Pad), ids], 1);
        var batch = cat([padded, tensor(Prompt(16, 6).Select(t => (long)t).ToArray(), [1, 16])], 0);
        var mask = cat([cat([zeros(1, 4, ScalarType.Int64), ones(1, 12, ScalarType.Int64)], 1), ones(1, 16, ScalarType.Int64)], 0);
        var positions = (mask.cumsum(1) - 1).clamp_min(0);
        var logits = model.forward(batch, positions, null, mask);
        Assert.True(TensorAssert.MaxAbsDiff(full[0], logits[0].narrow(0, 4, 12)) < 1e-4f);
    }

    [Fact]
    public void Cache_refuses_more_tokens_than_it_holds()
    {
        using var model = Tiny("llama");
        using var cache = model.CreateCache(1, 4);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.forward(tensor(new long[] { 1, 2, 3 }, [1, 3]), null, cache);
        var error = Assert.Throws<InvalidOperationException>(() => model.forward(tensor(new long[] { 4, 5 }, [1, 2]), null, cache));
        Assert.Contains("4 slots", error.Message);
    }

    [Fact]
    public void Seeded_sampling_repeats_and_another_seed_differs()
    {
        using var model = Tiny("llama");
        var generator = new TokenGenerator(model);
        var options = new SamplingOptions { MaxNewTokens = 32, Temperature = 1.5, TopK = 100, TopP = 0.95, Seed = 123, StopTokenIds = NoStop };
        int[][] prompts = [Prompt(4, 1), Prompt(9, 2)];
        var first = generator.GenerateBatch(prompts, options);
        var again = generator.GenerateBatch(prompts, options);
        var other = generator.GenerateBatch(prompts, options with { Seed = 124 });
        Assert.Equal(first.Select(r => r.TokenIds), again.Select(r => r.TokenIds));
        Assert.NotEqual(first[0].TokenIds, other[0].TokenIds);
        // A random model sampled at temperature 1.5 does not follow its argmax.
        Assert.NotEqual(generator.Generate(prompts[0], SamplingOptions.Greedy(32) with { StopTokenIds = NoStop }).TokenIds, first[0].TokenIds);
    }

    [Fact]
    public void Top_k_of_one_and_a_tiny_top_p_sample_the_argmax()
    {
        using var model = Tiny("gpt2");
        var generator = new TokenGenerator(model);
        var prompt = Prompt(5, 9);
        var greedy = generator.Generate(prompt, SamplingOptions.Greedy(12) with { StopTokenIds = NoStop }).TokenIds;
        Assert.Equal(greedy, generator.Generate(prompt, new() { MaxNewTokens = 12, Temperature = 2, TopK = 1, Seed = 1, StopTokenIds = NoStop }).TokenIds);
        Assert.Equal(greedy, generator.Generate(prompt, new() { MaxNewTokens = 12, Temperature = 2, TopP = 1e-6, Seed = 2, StopTokenIds = NoStop }).TokenIds);
    }

    [Fact]
    public void Repetition_penalty_pushes_away_tokens_already_seen()
    {
        using var model = Tiny("llama");
        var generator = new TokenGenerator(model);
        var prompt = Prompt(6, 3);
        var plain = generator.Generate(prompt, SamplingOptions.Greedy(40) with { StopTokenIds = NoStop }).TokenIds;
        var penalized = generator.Generate(prompt, SamplingOptions.Greedy(40) with { StopTokenIds = NoStop, RepetitionPenalty = 1e6 }).TokenIds;
        Assert.True(plain.Distinct().Count() < plain.Count, "an untrained model loops under greedy decoding");
        Assert.Equal(penalized.Count, penalized.Distinct().Count());
        Assert.DoesNotContain(penalized, prompt.Contains);
    }

    [Fact]
    public void Stop_token_ends_the_sequence_and_is_not_returned()
    {
        using var model = Tiny("gpt2");
        var generator = new TokenGenerator(model);
        var prompt = Prompt(5, 7);
        var free = generator.Generate(prompt, SamplingOptions.Greedy(20) with { StopTokenIds = NoStop }).TokenIds;
        var stopAt = free[6];
        var stopped = generator.Generate(prompt, SamplingOptions.Greedy(20) with { StopTokenIds = [stopAt] });
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.TakeWhile(t => t != stopAt), stopped.TokenIds);

        // In a batch the stopped row finishes while the other keeps going.
        var batch = generator.GenerateBatch([prompt, Prompt(8, 8)], SamplingOptions.Greedy(20) with { StopTokenIds = [stopAt] });
        Assert.Equal(stopped.TokenIds, batch[0].TokenIds);
    }

    [Fact]
    public void Default_stop_tokens_come_from_generation_config()
    {
        using var model = Tiny("llama");
        var generator = new TokenGenerator(model);
        var prompt = Prompt(5, 1);
        var free = generator.Generate(prompt, SamplingOptions.Greedy(10) with { StopTokenIds = NoStop }).TokenIds;
        model.GenerationConfig!["eos_token_id"] = free[3];
        var stopped = generator.Generate(prompt, SamplingOptions.Greedy(10));
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.TakeWhile(t => t != free[3]), stopped.TokenIds);
    }

    [Fact]
    public void Streaming_yields_tokens_lazily_and_restores_training_mode()
    {
        using var model = Tiny("llama");
        var generator = new TokenGenerator(model);
        var prompt = Prompt(5, 4);
        var options = SamplingOptions.Greedy(30) with { StopTokenIds = NoStop };
        model.train();
        var produced = 0;
        var firstThree = generator.Stream(prompt, options, Cancel).Select(t => { produced++; return t; }).Take(3).ToList();
        Assert.Equal(3, produced);
        Assert.True(model.training);
        Assert.Equal(generator.Generate(prompt, options).TokenIds.Take(3), firstThree);
        Assert.True(model.training);
    }

    [Fact]
    public void Two_hundred_decode_steps_leave_no_live_tensors_behind()
    {
        using var model = Tiny("llama");
        var generator = new TokenGenerator(model);
        var options = new SamplingOptions { MaxNewTokens = 200, Temperature = 0.8, TopK = 40, TopP = 0.9, RepetitionPenalty = 1.1, Seed = 5, StopTokenIds = NoStop };
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var liveAt = new Dictionary<int, long>();
        var steps = 0;
        foreach (var token in generator.StreamBatch([Prompt(5, 1), Prompt(9, 2)], options, Cancel))
        {
            if (token.Sequence != 1) continue;
            steps++;
            if (steps is 10 or 100 or 200) liveAt[steps] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        Assert.Equal(200, steps);
        Assert.Equal(liveAt[10], liveAt[100]);
        Assert.Equal(liveAt[10], liveAt[200]);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void Prompt_filling_the_context_is_refused_and_long_requests_are_capped()
    {
        using var model = Tiny("gpt2"); // n_positions 512
        var generator = new TokenGenerator(model);
        Assert.Throws<ArgumentException>(() => generator.Generate(Prompt(512, 1), SamplingOptions.Greedy(1)));
        var result = generator.Generate(Prompt(508, 1), SamplingOptions.Greedy(50) with { StopTokenIds = NoStop });
        Assert.Equal(4, result.TokenIds.Count);
        Assert.Equal(FinishReason.Length, result.FinishReason);
    }
}
