using System.Globalization;
using System.Text.Json;
using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Tests;

public class ModelInitAndInfoTests(StarterModels models)
{
    [Theory]
    [InlineData("llama", 2, 64)]
    [InlineData("gpt2", 4, 64)]
    public void Init_writes_a_self_describing_folder_and_info_reports_its_numbers(string arch, int kvHeads, int headDim)
    {
        var folder = models.Folder(arch);
        using var expected = ModelPresets.Build(arch, "tiny", StarterModels.Seed);
        var parameters = expected.ParameterCount;

        var init = models.InitOutput[arch];
        Assert.Contains($"architecture  {arch}", init);
        Assert.Contains($"parameters    {parameters.ToString("N0", CultureInfo.InvariantCulture)}", init);
        Assert.Contains("vocab         264 (bytes tokenizer, 261 ids)", init);

        // The folder loads with the byte tokenizer and ChatML, with no knowledge of how it was made.
        Assert.Same(ByteTokenizer.Instance, TokenizerLoader.FromModelFolder(folder));
        Assert.Equal(ChatTemplateFormat.ChatML, ChatTemplate.FromModelFolder(folder).Format);
        Assert.NotNull(TokenizerConfig.Read(folder).ChatTemplate);

        using var info = JsonDocument.Parse(Cli.Ok("model", "info", "--model", folder, "--json").Stdout);
        var root = info.RootElement;
        Assert.Equal(arch, root.GetProperty("modelType").GetString());
        Assert.Equal(parameters, root.GetProperty("parameters").GetInt64());
        Assert.Equal(264, root.GetProperty("vocabSize").GetInt32());
        Assert.Equal(512, root.GetProperty("contextLength").GetInt32());
        Assert.Equal(4, root.GetProperty("layers").GetInt32());
        Assert.Equal(4, root.GetProperty("heads").GetInt32());
        Assert.Equal(kvHeads, root.GetProperty("kvHeads").GetInt32());
        Assert.Equal(headDim, root.GetProperty("headDim").GetInt32());
        Assert.Equal(["F32"], root.GetProperty("dtypeOnDisk").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("bytes", root.GetProperty("tokenizer").GetString());
        Assert.Equal(261, root.GetProperty("tokenizerVocabSize").GetInt32());
        Assert.Equal("ChatML", root.GetProperty("chatTemplate").GetString());
        Assert.Equal("tokenizer_config.json", root.GetProperty("chatTemplateSource").GetString());

        var text = Cli.Ok("model", "info", "--model", folder).Stdout;
        Assert.Contains($"Parameters      {parameters.ToString("N0", CultureInfo.InvariantCulture)}", text);
        Assert.Contains($"Heads           4 (kv heads {kvHeads}, head dim {headDim}, hidden 256)", text);
        Assert.Contains("Chat template   ChatML (tokenizer_config.json)", text);
    }

    [Fact]
    public void Init_seed_gives_the_same_weights_as_the_preset_and_another_seed_does_not()
    {
        using var temp = new TempFolder();
        ModelPresets.Create("llama", "tiny", StarterModels.Seed, temp.Sub("preset"));
        Cli.Ok("model", "init", "--arch", "llama", "--out", temp.Sub("other"), "--seed", "8");
        var weights = File.ReadAllBytes(Path.Combine(models.Folder("llama"), "model.safetensors"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Sub("preset"), "model.safetensors")), weights);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(temp.Sub("other"), "model.safetensors")), weights);
    }

    [Fact]
    public void Init_refuses_a_non_empty_folder_unless_forced()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.Sub("notes.txt"), "mine");

        Expect.UserError(Cli.Run("model", "init", "--arch", "gpt2", "--out", temp.Path), 1, "--force");
        Assert.False(File.Exists(temp.Sub("config.json")));

        Cli.Ok("model", "init", "--arch", "gpt2", "--out", temp.Path, "--force");
        Assert.True(File.Exists(temp.Sub("model.safetensors")));
        Assert.Equal("mine", File.ReadAllText(temp.Sub("notes.txt")));
    }

    [Fact]
    public void Info_of_a_folder_without_tokenizer_or_template_says_so()
    {
        using var temp = new TempFolder();
        foreach (var file in new[] { "config.json", "generation_config.json", "model.safetensors" })
            File.Copy(Path.Combine(models.Folder("gpt2"), file), temp.Sub(file));
        var text = Cli.Ok("model", "info", "--model", temp.Path).Stdout;
        Assert.Contains("Tokenizer       none", text);
        Assert.Contains("Chat template   ChatML (default: tokenizer_config.json has none)", text);
    }
}
