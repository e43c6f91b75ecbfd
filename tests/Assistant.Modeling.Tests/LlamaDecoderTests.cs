using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>The single-stream fast path (<see cref="LlamaDecoder"/>) against the TorchSharp forward it replaces.</summary>
public class LlamaDecoderTests
{
    const float Tolerance = 1e-4f;
    static readonly int[] NoStop = [];

    /// <summary>
    /// Reference fixtures (GQA + untied head + head_dim 24; tied + llama3 rope + biases; bf16 widened), the starter preset, and
    /// query heads per K/V head the fixtures lack (the attention kernel takes up to four at once): 3 (the small preset's 6 on
    /// 2), 6 (four, then two), 8 (four and four) and 1 (no grouping).
    /// </summary>
    public static TheoryData<string> Models => ["llama_gqa_untied", "llama_tied_llama3", "llama_bf16", "preset:tiny", "biased", "heads:6/2", "heads:6/1", "heads:8/1", "heads:3/3"];

    static CausalLM Load(string name)
    {
        if (name == "preset:tiny") return ModelPresets.Build("llama", "tiny", 11);
        var tiny = (LlamaConfig)ModelPresets.Config("llama", "tiny") with { NumLayers = 2 };
        if (name.StartsWith("heads:", StringComparison.Ordinal))
        {
            var counts = name["heads:".Length..].Split('/').Select(int.Parse).ToArray();
            return Initialized(tiny with { NumHeads = counts[0], KeyValueHeads = counts[1], HiddenSize = counts[0] * 32 }, 13, biases: false);
        }
        if (name != "biased") return HfCheckpoint.Load(Fixtures.Folder(name));
        // attention_bias and mlp_bias with non-zero biases (init leaves them at zero).
        return Initialized(tiny with { AttentionBias = true, MlpBias = true }, 7, biases: true);
    }

    /// <summary>A model of <paramref name="config"/> with seeded random weights (and random biases, when asked: init zeroes them).</summary>
    static CausalLM Initialized(LlamaConfig config, ulong seed, bool biases)
    {
        var model = config.CreateModel();
        using var generator = new torch.Generator(seed);
        model.InitializeWeights(generator);
        using var _ = no_grad();
        if (biases)
            foreach (var (parameterName, parameter) in model.named_parameters())
                if (parameterName.EndsWith(".bias", StringComparison.Ordinal)) parameter.normal_(0, 0.1, generator);
        return model;
    }

    static int[] Prompt(int length, int vocab) => Enumerable.Range(0, length).Select(i => (i * 37 + 5) % vocab).ToArray();

    [Theory]
    [MemberData(nameof(Models))]
    public void Logits_equal_the_torch_forward_at_every_step_for_64_steps(string name)
    {
        using var model = Load(name);
        model.eval();
        var vocab = model.Config.VocabSize;
        var prompt = Prompt(21, vocab); // prefill passes of 8, 8 and 5 tokens
        const int steps = 64;
        using var decoder = LlamaDecoder.TryCreate(model, prompt.Length + steps);
        Assert.NotNull(decoder);
        using var cache = model.CreateCache(1, prompt.Length + steps);
        using var _ = no_grad();

        var worst = 0f;
        var next = 0L;
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var expected = step == 0
                ? model.forward(tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length]), null, cache, lastTokenOnly: true).squeeze(1)
                : model.forward(tensor(new[] { next }, [1, 1]), null, cache, lastTokenOnly: true).squeeze(1);
            using var actual = step == 0 ? decoder.Prefill(prompt) : decoder.Step((int)next);
            var diff = TensorAssert.MaxAbsDiff(expected, actual);
            Assert.True(diff < Tolerance, $"{name}: step {step} logits differ by {diff}");
            worst = Math.Max(worst, diff);
            next = expected.argmax(-1).item<long>();
        }
        Assert.Equal(prompt.Length + steps - 1, decoder.Length);
        Assert.True(worst < Tolerance, $"{name}: logits differ by {worst}");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void Greedy_tokens_equal_the_torch_path(string name)
    {
        using var model = Load(name);
        var prompt = Prompt(19, model.Config.VocabSize);
        var options = SamplingOptions.Greedy(64) with { StopTokenIds = NoStop };
        var fast = new TokenGenerator(model).Generate(prompt, options);
        var torchPath = new TokenGenerator(model) { FastSingleStream = false }.Generate(prompt, options);
        Assert.Equal(64, fast.TokenIds.Count);
        Assert.Equal(torchPath.TokenIds, fast.TokenIds);
    }

    [Fact]
    public void Rows_split_over_two_threads_give_the_same_logits_bit_for_bit()
    {
        using var model = Load("llama_tied_llama3"); // 96 + 24 + 24 fused Q/K/V rows: the split falls inside a matrix
        var prompt = Prompt(13, model.Config.VocabSize);
        float[][] Run(int threads)
        {
            torch.set_num_threads(threads);
            try
            {
                using var decoder = LlamaDecoder.TryCreate(model, 40)!;
                using var first = decoder.Prefill(prompt);
                var logits = new List<float[]> { first.data<float>().ToArray() };
                for (var i = 0; i < 20; i++)
                {
                    using var step = decoder.Step(i * 7 % model.Config.VocabSize);
                    logits.Add(step.data<float>().ToArray());
                }
                return logits.ToArray();
            }
            finally
            {
                torch.set_num_threads(1); // the test assembly's setting (AssemblyInfo.cs)
            }
        }
        Assert.Equal(Run(1), Run(2));
    }

    [Fact]
    public void Seeded_sampling_with_every_processor_equals_the_torch_path()
    {
        using var model = Load("preset:tiny");
        var prompt = Prompt(6, model.Config.VocabSize);
        var options = new SamplingOptions { MaxNewTokens = 48, Temperature = 0.8, TopK = 40, TopP = 0.9, RepetitionPenalty = 1.1, Seed = 5, StopTokenIds = NoStop };
        var fast = new TokenGenerator(model).Generate(prompt, options);
        var torchPath = new TokenGenerator(model) { FastSingleStream = false }.Generate(prompt, options);
        Assert.Equal(torchPath.TokenIds, fast.TokenIds);
    }

    [Fact]
    public void The_vector_exponential_is_within_an_ulp_or_two_and_saturates_instead_of_overflowing()
    {
        var worst = 0.0;
        for (var start = -87.2f; start < 87.6f; start += 0.37f) // 8 lanes a step apart: about 3,800 points across the range
        {
            var x = System.Runtime.Intrinsics.Vector256.Create(start, start + 0.05f, start + 0.1f, start + 0.15f, start + 0.2f, start + 0.25f, start + 0.3f, start + 0.35f);
            var e = LlamaDecoder.Exp(x);
            for (var i = 0; i < 8; i++)
            {
                var exact = Math.Exp(x[i]);
                worst = Math.Max(worst, Math.Abs(e[i] - exact) / exact);
            }
        }
        Assert.True(worst < 2.5e-7, $"worst relative error {worst:E2}"); // float's ulp is 1.2e-7 relative at worst
        var extremes = LlamaDecoder.Exp(System.Runtime.Intrinsics.Vector256.Create(-1000f, -100f, -88f, 0f, 88.5f, 100f, 1000f, float.NegativeInfinity));
        Assert.Equal(1f, extremes[3]);
        foreach (var i in new[] { 0, 1, 2, 7 }) Assert.InRange(extremes[i], 0f, 1.3e-38f); // far below: about the smallest normal float, never negative or NaN
        foreach (var i in new[] { 4, 5, 6 }) Assert.True(float.IsFinite(extremes[i]) && extremes[i] > 1e38f, $"exp of a large x gave {extremes[i]}"); // silu(-x) = -x / (1 + e^x) stays 0-ish, not NaN
    }

    [Fact]
    public void A_forward_hook_sends_generation_back_to_the_torch_path()
    {
        using var model = Load("preset:tiny");
        using (var decoder = LlamaDecoder.TryCreate(model, 16)) Assert.NotNull(decoder);
        var q = (TorchSharp.Modules.Linear)model.named_modules().First(m => m.name == "model.layers.0.self_attn.q_proj").module;
        var calls = 0;
        var hook = q.register_forward_hook((_, _, output) => { calls++; return output; });
        Assert.Null(LlamaDecoder.TryCreate(model, 16));
        new TokenGenerator(model).Generate(Prompt(4, model.Config.VocabSize), SamplingOptions.Greedy(5) with { StopTokenIds = NoStop });
        Assert.Equal(5, calls); // prefill + 4 decode steps, all through the hooked projection
        hook.remove();
        using (var decoder = LlamaDecoder.TryCreate(model, 16)) Assert.NotNull(decoder);
    }

    [Fact]
    public void Gpt2_and_non_fp32_models_are_not_taken()
    {
        using var gpt2 = ModelPresets.Build("gpt2", "tiny", 11);
        Assert.Null(LlamaDecoder.TryCreate(gpt2, 16));
        using var llama = ModelPresets.Build("llama", "tiny", 11);
        llama.to(ScalarType.Float64);
        Assert.Null(LlamaDecoder.TryCreate(llama, 16));
    }

    [Fact]
    public void Two_hundred_fast_steps_leave_no_live_tensors_behind()
    {
        using var model = Load("preset:tiny");
        var generator = new TokenGenerator(model);
        var options = new SamplingOptions { MaxNewTokens = 200, Temperature = 0.8, TopK = 40, TopP = 0.9, RepetitionPenalty = 1.1, Seed = 5, StopTokenIds = NoStop };
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var liveAt = new Dictionary<int, long>();
        var steps = 0;
        foreach (var _ in generator.Stream(Prompt(5, model.Config.VocabSize), options, TestContext.Current.CancellationToken))
        {
            steps++;
            if (steps is 10 or 100 or 200) liveAt[steps] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }
        Assert.Equal(200, steps);
        Assert.Equal(liveAt[10], liveAt[100]);
        Assert.Equal(liveAt[10], liveAt[200]);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void The_decoder_reads_the_parameters_in_place()
    {
        using var model = Load("preset:tiny");
        var prompt = Prompt(4, model.Config.VocabSize);
        using var decoder = LlamaDecoder.TryCreate(model, 8)!;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        model.named_parameters().First(p => p.name == "model.norm.weight").parameter.mul_(2); // a copy would not see this
        var expected = model.forward(tensor(prompt.Select(t => (long)t).ToArray(), [1, prompt.Length]))[0, -1].unsqueeze(0);
        using var actual = decoder.Prefill(prompt);
        Assert.True(TensorAssert.MaxAbsDiff(expected, actual) < Tolerance);
    }

    // ---- batches: one decoder, several sequences with their own positions ----

    public static TheoryData<string> BatchModels => ["llama_gqa_untied", "llama_tied_llama3", "biased", "heads:6/2", "heads:6/1", "heads:8/1", "heads:3/3"];

    /// <summary>Prompts of lengths 21 (passes of 8, 8, 5), 3, 12 and 9: different positions and attention lengths per row.</summary>
    static int[][] Prompts(int vocab) =>
        [Prompt(21, vocab), .. new[] { 3, 12, 9 }.Select((length, salt) => Enumerable.Range(0, length).Select(i => (i * 29 + 11 * salt + 3) % vocab).ToArray())];

    [Theory]
    [MemberData(nameof(BatchModels))]
    public void Batched_logits_equal_the_torch_batched_forward_at_every_step_and_row(string name)
    {
        using var model = Load(name);
        model.eval();
        var vocab = model.Config.VocabSize;
        var prompts = Prompts(vocab);
        var (batch, longest) = (prompts.Length, prompts.Max(p => p.Length));
        const int steps = 40;
        using var decoder = LlamaDecoder.TryCreate(model, longest + steps, batch);
        Assert.NotNull(decoder);
        using var cache = model.CreateCache(batch, longest + steps);
        using var _ = no_grad();

        // The torch path as TokenGenerator drives it: left padding, a mask, each row counting positions from its first token.
        var ids = new long[batch * longest];
        var isToken = new long[batch * longest];
        for (var row = 0; row < batch; row++)
            for (var i = 0; i < prompts[row].Length; i++)
            {
                ids[row * longest + longest - prompts[row].Length + i] = prompts[row][i];
                isToken[row * longest + longest - prompts[row].Length + i] = 1;
            }
        var positions = prompts.Select(p => (long)p.Length).ToArray();
        var next = new long[batch];
        var worst = 0f;
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            Tensor expected;
            if (step == 0)
            {
                var mask = tensor(isToken, [batch, longest]);
                expected = model.forward(tensor(ids, [batch, longest]), (mask.cumsum(1) - 1).clamp_min(0), cache, mask, lastTokenOnly: true).squeeze(1);
            }
            else
            {
                expected = model.forward(tensor(next, [batch, 1]), tensor(positions, [batch, 1]), cache, lastTokenOnly: true).squeeze(1);
                for (var row = 0; row < batch; row++) positions[row]++;
            }
            using var actual = step == 0 ? decoder.PrefillBatch(prompts) : decoder.StepBatch(next);
            Assert.Equal(new long[] { batch, vocab }, actual.shape);
            for (var row = 0; row < batch; row++)
            {
                var diff = TensorAssert.MaxAbsDiff(expected[row], actual[row]);
                Assert.True(diff < Tolerance, $"{name}: step {step} row {row} logits differ by {diff}");
                worst = Math.Max(worst, diff);
            }
            next = expected.argmax(-1).data<long>().ToArray();
        }
        for (var row = 0; row < batch; row++) Assert.Equal(prompts[row].Length + steps - 1, decoder.LengthOf(row));
        Assert.True(worst < Tolerance, $"{name}: logits differ by {worst}");
    }

    [Theory]
    [MemberData(nameof(BatchModels))]
    public void Batched_greedy_tokens_equal_each_prompt_decoded_alone_and_the_torch_batch(string name)
    {
        using var model = Load(name);
        var prompts = Prompts(model.Config.VocabSize);
        var options = SamplingOptions.Greedy(32) with { StopTokenIds = NoStop };
        var generator = new TokenGenerator(model);
        var batch = generator.GenerateBatch(prompts, options);
        var torchBatch = new TokenGenerator(model) { FastSingleStream = false }.GenerateBatch(prompts, options);
        for (var row = 0; row < prompts.Length; row++)
        {
            Assert.Equal(32, batch[row].TokenIds.Count);
            Assert.Equal(generator.Generate(prompts[row], options).TokenIds, batch[row].TokenIds);
            Assert.Equal(torchBatch[row].TokenIds, batch[row].TokenIds);
        }
    }

    [Fact]
    public void Batched_seeded_sampling_with_stops_equals_the_torch_batch()
    {
        using var model = Load("preset:tiny");
        var prompts = Prompts(model.Config.VocabSize);
        var free = new SamplingOptions { MaxNewTokens = 40, Temperature = 0.8, TopK = 40, TopP = 0.9, RepetitionPenalty = 1.1, Seed = 5, StopTokenIds = NoStop };
        var reference = new TokenGenerator(model) { FastSingleStream = false }.GenerateBatch(prompts, free);
        // Stop on a token one row produces early, so rows finish at different steps and are skipped from then on.
        var options = free with { StopTokenIds = [reference[1].TokenIds[3]] };
        var fast = new TokenGenerator(model).GenerateBatch(prompts, options);
        var torchPath = new TokenGenerator(model) { FastSingleStream = false }.GenerateBatch(prompts, options);
        Assert.Contains(fast, r => r.FinishReason == FinishReason.Stop);
        for (var row = 0; row < prompts.Length; row++)
        {
            Assert.Equal(torchPath[row].FinishReason, fast[row].FinishReason);
            Assert.Equal(torchPath[row].TokenIds, fast[row].TokenIds);
        }
    }

    [Fact]
    public void A_decoder_on_a_disposed_decoders_memory_computes_what_a_fresh_one_does()
    {
        using var model = Load("llama_gqa_untied");
        var prompts = Prompts(model.Config.VocabSize)[..3];
        using var scope = NewDisposeScope();
        using var fresh = LlamaDecoder.TryCreate(model, 40, 3)!;
        var expected = new List<Tensor> { fresh.PrefillBatch(prompts) };
        for (var i = 0; i < 12; i++) expected.Add(fresh.StepBatch([i, 2 * i, 3 * i]));

        using (var used = LlamaDecoder.TryCreate(model, 40, 3)!) // other sequences fill its cache before it is handed on
        {
            used.PrefillBatch(prompts.Reverse().ToArray());
            for (var i = 0; i < 15; i++) used.StepBatch([7, 8, 9]);
        }
        var pooled = PinnedFloatPool.Pooled;
        using var reused = LlamaDecoder.TryCreate(model, 40, 3)!;
        Assert.True(PinnedFloatPool.Pooled < pooled, "the new decoder took the disposed one's arrays");
        TensorAssert.BitEqual(expected[0], reused.PrefillBatch(prompts), "prefill");
        for (var i = 0; i < 12; i++) TensorAssert.BitEqual(expected[i + 1], reused.StepBatch([i, 2 * i, 3 * i]), $"step {i}");
    }

    [Fact]
    public void A_skipped_sequence_keeps_its_cache_and_gets_zero_logits()
    {
        using var model = Load("llama_gqa_untied");
        var prompts = Prompts(model.Config.VocabSize)[..3];
        using var all = LlamaDecoder.TryCreate(model, 40, 3)!;
        using var some = LlamaDecoder.TryCreate(model, 40, 3)!;
        using var scope = NewDisposeScope();
        all.PrefillBatch(prompts);
        some.PrefillBatch(prompts);
        long[] tokens = [4, 9, 2];
        var expected = all.StepBatch(tokens);
        var actual = some.StepBatch(tokens, [false, true, false]);
        Assert.Equal(prompts[1].Length, some.LengthOf(1));
        Assert.Equal(prompts[0].Length + 1, some.LengthOf(0));
        Assert.Equal(0f, actual[1].abs().max().item<float>());
        Assert.True(TensorAssert.MaxAbsDiff(expected[0], actual[0]) < Tolerance);
        Assert.True(TensorAssert.MaxAbsDiff(expected[2], actual[2]) < Tolerance);
        // The skipped row resumes where it stopped.
        var resumed = some.StepBatch([5, tokens[1], 6], [true, false, true]);
        Assert.True(TensorAssert.MaxAbsDiff(expected[1], resumed[1]) < Tolerance);
        Assert.Null(LlamaDecoder.TryCreate(model, 16, LlamaDecoder.MaxBatch + 1));
    }
}
