using System.Text.Json.Nodes;

namespace Assistant.Modeling.Tests;

/// <summary>Mistakes a user can make in a model folder get a message naming the thing at fault.</summary>
public class ModelFormatErrorTests
{
    static void EditConfig(string folder, Action<JsonObject> edit)
    {
        var path = Path.Combine(folder, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    [Fact]
    public void Unsupported_model_type_is_named_with_the_supported_ones()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Path);
        EditConfig(folder, c => c["model_type"] = "mamba");
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'mamba'", error.Message);
        Assert.Contains("llama", error.Message);
        Assert.Contains("gpt2", error.Message);
    }

    [Fact]
    public void Missing_tensor_is_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Path);
        var weights = Path.Combine(folder, "model.safetensors");
        var tensors = Safetensors.Load(weights);
        tensors.Remove("model.layers.1.mlp.up_proj.weight");
        Safetensors.Save(weights, tensors);
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'model.layers.1.mlp.up_proj.weight'", error.Message);
    }

    [Fact]
    public void Missing_gpt2_tensor_names_both_spellings()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("gpt2", temp.Path);
        var weights = Path.Combine(folder, "model.safetensors");
        var tensors = Safetensors.Load(weights);
        tensors.Remove("h.1.ln_2.bias");
        Safetensors.Save(weights, tensors);
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'transformer.h.1.ln_2.bias'", error.Message);
        Assert.Contains("'h.1.ln_2.bias'", error.Message);
    }

    [Fact]
    public void Shape_mismatch_names_the_tensor_and_both_shapes()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Path);
        EditConfig(folder, c => c["intermediate_size"] = 128);
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'model.layers.0.mlp.gate_proj.weight'", error.Message);
        Assert.Contains("[160, 64]", error.Message);
        Assert.Contains("[128, 64]", error.Message);
    }

    [Fact]
    public void Tensors_the_config_does_not_use_are_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Path);
        EditConfig(folder, c => c["num_hidden_layers"] = 1);
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("model.layers.1.", error.Message);
    }

    [Fact]
    public void Missing_config_json_is_named()
    {
        using var temp = new TempFolder();
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(temp.Path));
        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public void Missing_weights_are_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("gpt2", temp.Path);
        File.Delete(Path.Combine(folder, "model.safetensors"));
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("model.safetensors", error.Message);
    }

    [Fact]
    public void Missing_required_config_key_is_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("gpt2", temp.Path);
        EditConfig(folder, c => c.Remove("n_embd"));
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'n_embd'", error.Message);
    }

    [Fact]
    public void Unsupported_rope_scaling_is_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Path);
        EditConfig(folder, c => c["rope_scaling"] = new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0 });
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("'yarn'", error.Message);
        Assert.Contains("llama3", error.Message);
    }

    [Fact]
    public void Truncated_safetensors_is_named()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("gpt2", temp.Path);
        var weights = Path.Combine(folder, "model.safetensors");
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<ModelFormatException>(() => HfCheckpoint.Load(folder));
        Assert.Contains("model.safetensors", error.Message);
    }
}
