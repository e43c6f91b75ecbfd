using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>The single-stream fast path (<see cref="LlamaDecoder"/>) against the TorchSharp forward it replaces.</summary>
public class LlamaDecoderTests
{
    const float Tolerance = 1e-4f;
    static readonly int[] NoStop = [];

    /// <summary>Reference fixtures (GQA + untied head + head_dim 24; tied + llama3 rope + biases; bf16 widened) and the starter preset.</summary>
    public static TheoryData<string> Models => ["llama_gqa_untied", "llama_tied_llama3", "llama_bf16", "preset:tiny", "biased"];

    static CausalLM Load(string name)
    {
        if (name == "preset:tiny") return ModelPresets.Build("llama", "tiny", 11);
        if (name != "biased") return HfCheckpoint.Load(Fixtures.Folder(name));
        // attention_bias and mlp_bias with non-zero biases (init leaves them at zero).
        var config = (LlamaConfig)ModelPresets.Config("llama", "tiny") with { AttentionBias = true, MlpBias = true, NumLayers = 2 };
        var model = config.CreateModel();
        using var generator = new torch.Generator(7);
        model.InitializeWeights(generator);
        using var _ = no_grad();
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
}
