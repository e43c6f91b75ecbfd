using Assistant.Modeling;
using Assistant.Modeling.Training;
using static TorchSharp.torch;

namespace Assistant.Training.Tests;

public sealed class LoraTests
{
    [Fact]
    public void Lora_leaves_the_base_weights_unchanged_and_the_merged_export_equals_the_adapted_forward()
    {
        using var temp = new TempFolder();
        var baseFolder = TinyModel.Create(temp.Sub("model"));
        var config = TinyModel.Config with
        {
            Method = TrainingMethods.Lora, MaxSteps = 12, MaxLength = 128, LearningRate = 1e-2, LoraR = 4, LoraAlpha = 8, LoraDropout = 0.1,
            LoraTargetModules = ["q_proj", "v_proj", "gate_proj"],
        };
        var spec = new TrainingSpec { Model = baseFolder, TrainFile = TestData.File("support_train.jsonl"), OutputDir = temp.Sub("out"), Config = config };
        using var original = HfCheckpoint.Load(baseFolder);
        var baseUnchanged = false;
        var hooks = new TrainingHooks
        {
            BeforeStep = (step, model) =>
            {
                if (step != config.MaxSteps - 1) return;
                // After 11 optimizer steps every base tensor is still byte-for-byte the loaded one.
                var now = model.state_dict();
                baseUnchanged = original.state_dict().All(p => p.Value.bytes.SequenceEqual(now[p.Key].bytes));
                Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
            },
        };
        var events = new List<TrainingEvent>();
        var result = TrainingRun.Execute(spec, new SyncProgress(events.Add), TestContext.Current.CancellationToken, hooks);
        Assert.Equal(TrainingStatus.Succeeded, result.Status);
        Assert.True(baseUnchanged, "a base weight changed during LoRA training");
        var losses = Metrics.Of(spec.OutputDir, "train").Select(s => (double)s["train_loss"]!).ToArray();
        Assert.True(losses[^1] < losses[0] - 0.15, $"LoRA train_loss {losses[0]:F3} -> {losses[^1]:F3}");
        // Only adapters train: per layer q 4*(64+64) + v 4*(64+32) + gate 4*(64+176) = 1,856; two layers.
        Assert.Contains(events, e => e is StatusMessage { Message: var m } && m.Contains("3,712 trainable parameters"));

        // PEFT layout: adapter_config.json + adapter_model.safetensors with base_model.model.<module>.lora_A/B.weight.
        var adapterFolder = Path.Combine(spec.OutputDir, TrainingRun.AdapterFolder);
        var tensors = Safetensors.Load(Path.Combine(adapterFolder, LoraAdapters.WeightsFile));
        Assert.Equal(12, tensors.Count);
        Assert.Contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", tensors.Keys);
        Assert.Equal([64L, 4L], tensors["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"].shape);
        Assert.True(tensors["base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight"].abs().sum().item<float>() > 0);
        Assert.Contains("\"peft_type\": \"LORA\"", File.ReadAllText(Path.Combine(adapterFolder, LoraAdapters.ConfigFile)));

        // The merged export computes what the base plus adapters computes.
        using var adapted = HfCheckpoint.Load(baseFolder);
        using var lora = LoraAdapters.Attach(adapted, 4, 8, 0.1, config.LoraTargetModules, seed: 0);
        lora.Load(adapterFolder);
        adapted.eval();
        using var merged = HfCheckpoint.Load(result.FinalModelPath!);
        using var scope = NewDisposeScope();
        var ids = randint(0, 261, [2, 40], dtype: ScalarType.Int64, generator: new TorchSharp.torch.Generator(5));
        using var _ = no_grad();
        var expected = adapted.forward(ids);
        var actual = merged.forward(ids);
        var plain = original.forward(ids);
        Assert.True((expected - actual).abs().max().item<float>() < 1e-5, $"max diff {(expected - actual).abs().max().item<float>()}");
        Assert.True((expected - plain).abs().max().item<float>() > 1e-3, "the adapters changed nothing");
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void Gpt2_conv1d_projections_take_adapters_and_merge_in_their_input_major_layout()
    {
        using var temp = new TempFolder();
        var folder = ModelPresets.Create("gpt2", "tiny", 3, temp.Sub("gpt2"));
        using var model = HfCheckpoint.Load(folder);
        using var lora = LoraAdapters.Attach(model, 2, 4, 0, [], seed: 1);
        Assert.Equal(4, lora.Adapters.Count); // c_attn of each of 4 layers (PEFT's default for GPT-2)
        using (no_grad()) foreach (var a in lora.Adapters) a.B.normal_(0, 0.02);
        using var scope = NewDisposeScope();
        var ids = arange(0, 24, dtype: ScalarType.Int64).unsqueeze(0);
        using var _ = no_grad();
        var adapted = model.forward(ids);
        lora.Merge();
        var merged = model.forward(ids);
        Assert.True((adapted - merged).abs().max().item<float>() < 1e-5);
    }
}
