using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

public class ModelPresetsTests
{
    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Same_seed_gives_identical_bytes_and_another_seed_does_not(string architecture)
    {
        using var temp = new TempFolder();
        ModelPresets.Create(architecture, "tiny", 7, temp.Sub("a"));
        ModelPresets.Create(architecture, "tiny", 7, temp.Sub("b"));
        ModelPresets.Create(architecture, "tiny", 8, temp.Sub("c"));
        foreach (var file in new[] { "config.json", "generation_config.json", "model.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Sub("a"), file)), File.ReadAllBytes(Path.Combine(temp.Sub("b"), file)));
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(temp.Sub("a"), "model.safetensors")), File.ReadAllBytes(Path.Combine(temp.Sub("c"), "model.safetensors")));
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Tiny_preset_is_a_loadable_hf_folder_of_a_few_million_parameters(string architecture)
    {
        using var temp = new TempFolder();
        var folder = ModelPresets.Create(architecture, "tiny", 1, temp.Path, f => File.WriteAllText(Path.Combine(f, "tokenizer.json"), "{}"));
        Assert.True(File.Exists(Path.Combine(folder, "tokenizer.json")));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        Assert.Equal(architecture, config["model_type"]!.GetValue<string>());
        Assert.Equal(StarterVocabulary.Size, config["vocab_size"]!.GetValue<int>());
        Assert.Equal(StarterVocabulary.Bos, config["bos_token_id"]!.GetValue<int>());
        Assert.Equal(StarterVocabulary.Eos, config["eos_token_id"]!.GetValue<int>());
        var generation = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "generation_config.json")))!;
        Assert.Equal([StarterVocabulary.Eos, StarterVocabulary.ImEnd], generation["eos_token_id"]!.AsArray().Select(n => n!.GetValue<int>()));

        using var model = HfCheckpoint.Load(folder);
        Assert.InRange(model.ParameterCount, 2_000_000, 6_000_000);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.forward(tensor(new long[] { StarterVocabulary.Bos, 'h', 'i' }, [1, 3]));
        Assert.Equal([1L, 3L, StarterVocabulary.Size], logits.shape);
        Assert.True(logits.isfinite().all().item<bool>());
    }

    [Fact]
    public void Building_a_model_leaves_the_global_random_stream_alone()
    {
        using var scope = NewDisposeScope();
        manual_seed(42);
        var expected = randn(5);
        manual_seed(42);
        using (ModelPresets.Build("llama", "tiny", 3)) { }
        TensorAssert.BitEqual(expected, randn(5), "global stream");
    }

    [Fact]
    public void Llama_parameter_count_flops_and_weight_decay_groups_follow_the_architecture()
    {
        using var model = ModelPresets.Build("llama", "tiny", 1);
        var c = (LlamaConfig)model.Config;
        long d = c.HiddenSize, kv = c.NumKeyValueHeads * c.HeadDim, inner = c.IntermediateSize;
        var perLayer = d * d + 2 * d * kv + d * d + 3 * d * inner + 2 * d;
        var expected = c.VocabSize * d + c.NumLayers * perLayer + d; // tied head: no lm_head
        Assert.Equal(expected, model.ParameterCount);

        Assert.Equal(6.0 * expected + 12.0 * c.NumLayers * c.NumHeads * c.HeadDim * 256, model.FlopsPerToken(256));
        Assert.Equal(0.5, model.EstimateMfu(tokensPerSecond: 1000, contextLength: 256, peakFlopsPerSecond: 2000 * model.FlopsPerToken(256)), 12);

        var groups = model.GroupParametersForWeightDecay();
        Assert.Equal(model.ParameterCount, groups.Decay.Concat(groups.NoDecay).Sum(p => p.Parameter.numel()));
        Assert.Contains(groups.Decay, p => p.Name == "model.layers.0.self_attn.q_proj.weight");
        Assert.Contains(groups.NoDecay, p => p.Name == "model.embed_tokens.weight");
        Assert.Contains(groups.NoDecay, p => p.Name == "model.norm.weight");
        Assert.All(groups.Decay, p => Assert.EndsWith("_proj.weight", p.Name));
    }

    [Fact]
    public void Gpt2_weight_decay_groups_leave_out_embeddings_norms_and_biases()
    {
        using var model = ModelPresets.Build("gpt2", "tiny", 1);
        var groups = model.GroupParametersForWeightDecay();
        Assert.Equal(4 * 4, groups.Decay.Count); // c_attn, c_proj, c_fc, mlp.c_proj per layer
        Assert.Contains(groups.NoDecay, p => p.Name == "transformer.wte.weight");
        Assert.Contains(groups.NoDecay, p => p.Name == "transformer.wpe.weight");
        Assert.Contains(groups.NoDecay, p => p.Name == "transformer.h.0.attn.c_attn.bias");
        Assert.Contains(groups.NoDecay, p => p.Name == "transformer.h.3.ln_2.weight");
    }

    [Fact]
    public void Unknown_preset_lists_the_available_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => ModelPresets.Config("llama", "huge"));
        Assert.Contains("tiny", error.Message);
        error = Assert.Throws<ArgumentException>(() => ModelPresets.Config("mamba", "tiny"));
        Assert.Contains("gpt2", error.Message);
    }
}
