using System.Text.Json;

namespace Assistant.Cli.Tests;

public class ExportTests(StarterModels models)
{
    static readonly string[] TokenizerFiles = ["tokenizer_config.json", "tokenizer.json", "special_tokens_map.json"];

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Hf_export_has_identical_weight_bytes_tokenizer_files_and_logits(string arch)
    {
        using var temp = new TempFolder();
        var source = models.Folder(arch);
        var target = temp.Sub("exported");
        Assert.Contains(target, Cli.Ok("export", "--model", source, "--format", "hf", "--out", target).Stdout);

        foreach (var file in new[] { "model.safetensors", "config.json", "generation_config.json" }.Concat(TokenizerFiles))
            Assert.True(File.ReadAllBytes(Path.Combine(source, file)).SequenceEqual(File.ReadAllBytes(Path.Combine(target, file))), $"{file} differs");
        string[] logits = ["model", "logits", "--ids", "256,104,105,260,10"];
        Assert.Equal(Cli.Ok([.. logits, "--model", source]).Stdout, Cli.Ok([.. logits, "--model", target]).Stdout);
    }

    [Fact]
    public void Hf_export_in_f16_halves_the_weights_and_keeps_the_logits_close()
    {
        using var temp = new TempFolder();
        var source = models.Folder("llama");
        var target = temp.Sub("f16");
        Cli.Ok("export", "--model", source, "--format", "hf", "--out", target, "--dtype", "f16");

        using var info = JsonDocument.Parse(Cli.Ok("model", "info", "--model", target, "--json").Stdout);
        Assert.Equal(["F16"], info.RootElement.GetProperty("dtypeOnDisk").EnumerateArray().Select(e => e.GetString()));
        Assert.InRange(new FileInfo(Path.Combine(target, "model.safetensors")).Length, 0.45 * new FileInfo(Path.Combine(source, "model.safetensors")).Length, 0.55 * new FileInfo(Path.Combine(source, "model.safetensors")).Length);

        float[] Logits(string folder)
        {
            using var json = JsonDocument.Parse(Cli.Ok("model", "logits", "--model", folder, "--ids", "256,104,105").Stdout);
            return json.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        }
        var difference = Logits(source).Zip(Logits(target)).Max(p => Math.Abs(p.First - p.Second));
        Assert.InRange(difference, 1e-7, 1e-2); // rounded weights: close, and not the same
    }

    [Fact]
    public void Gguf_export_writes_one_llama_cpp_file_and_refuses_gpt2()
    {
        using var temp = new TempFolder();
        var file = temp.Sub("tiny.gguf");
        Cli.Ok("export", "--model", models.Folder("llama"), "--format", "gguf", "--out", file);
        Assert.Equal("GGUF"u8.ToArray(), File.ReadAllBytes(file)[..4]);

        Expect.UserError(Cli.Run("export", "--model", models.Folder("llama"), "--format", "gguf", "--out", file), 1, "--force");
        Expect.UserError(Cli.Run("export", "--model", models.Folder("gpt2"), "--format", "gguf", "--out", temp.Sub("gpt2.gguf")), 1, "llama");
    }

    [Fact]
    public void Hf_export_refuses_a_non_empty_folder_and_the_model_folder_itself()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.Sub("keep.txt"), "x");
        Expect.UserError(Cli.Run("export", "--model", models.Folder("gpt2"), "--format", "hf", "--out", temp.Path), 1, "--force");
        Expect.UserError(Cli.Run("export", "--model", models.Folder("gpt2"), "--format", "hf", "--out", models.Folder("gpt2")), 2, "model folder itself");
    }
}
