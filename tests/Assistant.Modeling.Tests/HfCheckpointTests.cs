using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

public class HfCheckpointTests
{
    static void AssertFoldersByteEqual(string expected, string actual)
    {
        var files = Directory.EnumerateFiles(expected, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(expected, f)).Order().ToList();
        Assert.Equal(files, Directory.EnumerateFiles(actual, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(actual, f)).Order().ToList());
        foreach (var file in files)
            Assert.True(File.ReadAllBytes(Path.Combine(expected, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(actual, file))), $"{file} differs");
    }

    static Tensor Logits(CausalLM model, Tensor ids)
    {
        using var _ = no_grad();
        return model.forward(ids);
    }

    [Theory]
    [InlineData("llama_gqa_untied")]
    [InlineData("llama_tied_llama3")]
    [InlineData("gpt2")]
    public void Save_load_save_is_bit_exact(string fixture)
    {
        using var temp = new TempFolder();
        using var scope = NewDisposeScope();
        using (var model = HfCheckpoint.Load(Fixtures.Folder(fixture))) HfCheckpoint.Save(model, temp.Sub("first"));
        using (var model = HfCheckpoint.Load(temp.Sub("first"))) HfCheckpoint.Save(model, temp.Sub("second"));
        AssertFoldersByteEqual(temp.Sub("first"), temp.Sub("second"));
        Assert.Contains("logits.json", Directory.EnumerateFiles(temp.Sub("first")).Select(Path.GetFileName)); // carried through
    }

    [Fact]
    public void Saved_weights_equal_the_original_fp32_tensors_and_config_keeps_unknown_keys()
    {
        using var temp = new TempFolder();
        using var scope = NewDisposeScope();
        var source = Fixtures.Folder("llama_gqa_untied");
        using (var model = HfCheckpoint.Load(source)) HfCheckpoint.Save(model, temp.Path);

        var original = Safetensors.Load(Path.Combine(source, "model.safetensors"));
        var saved = Safetensors.Load(Path.Combine(temp.Path, "model.safetensors"));
        Assert.Equal(original.Keys.Order(), saved.Keys.Order());
        foreach (var (name, tensor) in original) TensorAssert.BitEqual(tensor, saved[name], name);

        var config = File.ReadAllText(Path.Combine(temp.Path, "config.json"));
        Assert.Contains("\"pretraining_tp\": 1", config);
        Assert.Contains("\"transformers_version\": \"4.46.0\"", config);
        Assert.Contains("\"rms_norm_eps\": 1e-06", config); // unchanged values keep their spelling
        Assert.Contains("\"head_dim\": 24", config);
    }

    [Fact]
    public void Sharded_checkpoint_loads_to_the_same_logits()
    {
        using var temp = new TempFolder();
        using var scope = NewDisposeScope();
        var (ids, _) = Fixtures.Expected("llama_gqa_untied");
        using var model = HfCheckpoint.Load(Fixtures.Folder("llama_gqa_untied"));
        var expected = Logits(model, ids);
        HfCheckpoint.Save(model, temp.Path, new HfSaveOptions { MaxShardBytes = 100_000 });

        Assert.False(File.Exists(Path.Combine(temp.Path, "model.safetensors")));
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(temp.Path, "model.safetensors.index.json")))!;
        var weightMap = index["weight_map"]!.AsObject();
        var shards = weightMap.Select(p => p.Value!.GetValue<string>()).Distinct().ToList();
        Assert.True(shards.Count >= 3, $"{shards.Count} shards");
        Assert.All(shards, s => Assert.Matches(@"^model-\d{5}-of-\d{5}\.safetensors$", s));
        Assert.Equal(model.state_dict().Keys.Order(), weightMap.Select(p => p.Key).Order());
        Assert.Equal(model.ParameterCount * 4, index["metadata"]!["total_size"]!.GetValue<long>());

        using var reloaded = HfCheckpoint.Load(temp.Path);
        TensorAssert.BitEqual(expected, Logits(reloaded, ids), "logits");
    }

    [Fact]
    public void Bf16_checkpoint_loads_as_fp32_and_saves_back_as_bf16_unchanged()
    {
        using var temp = new TempFolder();
        using var scope = NewDisposeScope();
        var source = Fixtures.Folder("llama_bf16");
        using var model = HfCheckpoint.Load(source);
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.True(p.to(ScalarType.BFloat16).to(ScalarType.Float32).equal(p).all().item<bool>(), $"{name} is not bf16-exact");
        }
        HfCheckpoint.Save(model, temp.Path, new HfSaveOptions { DType = SafetensorsDType.BF16 });
        using (var original = new Safetensors.Reader(Path.Combine(source, "model.safetensors")))
        using (var saved = new Safetensors.Reader(Path.Combine(temp.Path, "model.safetensors")))
        {
            Assert.All(saved.Entries.Values, e => Assert.Equal("BF16", e.DType));
            foreach (var name in original.Entries.Keys) TensorAssert.BitEqual(original.Read(name), saved.Read(name), name);
        }
        Assert.Contains("\"torch_dtype\": \"bfloat16\"", File.ReadAllText(Path.Combine(temp.Path, "config.json")));
        using var reloaded = HfCheckpoint.Load(temp.Path);
        foreach (var (name, p) in reloaded.named_parameters()) TensorAssert.BitEqual(model.state_dict()[name], p, name);
    }

    [Fact]
    public void Gpt2_loads_both_key_spellings_and_saves_hf_form()
    {
        using var temp = new TempFolder();
        using var scope = NewDisposeScope();
        var (ids, _) = Fixtures.Expected("gpt2");
        using var model = HfCheckpoint.Load(Fixtures.Folder("gpt2")); // keys without "transformer.", attn.bias buffers
        HfCheckpoint.Save(model, temp.Path);

        using (var reader = new Safetensors.Reader(Path.Combine(temp.Path, "model.safetensors")))
        {
            Assert.Contains("transformer.h.0.attn.c_attn.weight", reader.Entries.Keys);
            Assert.Equal([64L, 192L], reader.Entries["transformer.h.0.attn.c_attn.weight"].Shape); // Conv1D [in, out]
            Assert.Contains("transformer.ln_f.weight", reader.Entries.Keys);
            Assert.DoesNotContain("lm_head.weight", reader.Entries.Keys); // tied
            Assert.All(reader.Entries.Keys, k => Assert.StartsWith("transformer.", k));
            Assert.DoesNotContain(reader.Entries.Keys, k => k.EndsWith(".attn.bias", StringComparison.Ordinal));
        }
        using var reloaded = HfCheckpoint.Load(temp.Path);
        TensorAssert.BitEqual(Logits(model, ids), Logits(reloaded, ids), "logits");
    }

    [Fact]
    public void Other_files_are_copied_through_and_stale_weights_are_not()
    {
        using var temp = new TempFolder();
        var source = Fixtures.CopyTo("gpt2", temp.Sub("source"));
        File.WriteAllText(Path.Combine(source, "tokenizer.json"), "{\"model\": {\"type\": \"BPE\"}}");
        Directory.CreateDirectory(Path.Combine(source, "extra"));
        File.WriteAllBytes(Path.Combine(source, "extra", "notes.bin"), [1, 2, 3]);
        File.WriteAllBytes(Path.Combine(source, "pytorch_model.bin"), [9, 9]);
        File.WriteAllText(Path.Combine(source, "generation_config.json"), "{\n  \"do_sample\": true,\n  \"eos_token_id\": 5\n}\n");

        using var model = HfCheckpoint.Load(source);
        Assert.Equal(5, model.GenerationConfig!["eos_token_id"]!.GetValue<int>());
        var target = temp.Sub("target");
        var hookCalled = false;
        HfCheckpoint.Save(model, target, new HfSaveOptions { WriteExtraFiles = folder => hookCalled = File.Exists(Path.Combine(folder, "model.safetensors")) });

        Assert.True(hookCalled);
        Assert.Equal(File.ReadAllBytes(Path.Combine(source, "tokenizer.json")), File.ReadAllBytes(Path.Combine(target, "tokenizer.json")));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(Path.Combine(target, "extra", "notes.bin")));
        Assert.False(File.Exists(Path.Combine(target, "pytorch_model.bin")));
        Assert.Equal(5, JsonNode.Parse(File.ReadAllText(Path.Combine(target, "generation_config.json")))!["eos_token_id"]!.GetValue<int>());
    }

    [Fact]
    public void Saving_unsharded_over_a_sharded_folder_removes_the_old_shards()
    {
        using var temp = new TempFolder();
        using var model = HfCheckpoint.Load(Fixtures.Folder("llama_gqa_untied"));
        HfCheckpoint.Save(model, temp.Path, new HfSaveOptions { MaxShardBytes = 100_000 });
        HfCheckpoint.Save(model, temp.Path);
        Assert.Empty(Directory.EnumerateFiles(temp.Path, "model-*"));
        Assert.False(File.Exists(Path.Combine(temp.Path, "model.safetensors.index.json")));
        using var reloaded = HfCheckpoint.Load(temp.Path);
        Assert.Equal(model.ParameterCount, reloaded.ParameterCount);
    }
}
