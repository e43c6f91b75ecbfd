using System.Text.Json.Nodes;
using Assistant.Modeling;
using Assistant.Modeling.Training;

namespace Assistant.Training.Tests;

public sealed class PretrainTests
{
    [Fact]
    public void Loss_on_a_small_real_text_falls_clearly_over_a_few_hundred_steps()
    {
        using var temp = new TempFolder();
        var events = new List<TrainingEvent>();
        var spec = new TrainingSpec
        {
            Model = TinyModel.Create(temp.Sub("model")),
            TrainFile = TestData.File("coast.jsonl"),
            ValidationFile = TestData.File("coast_valid.jsonl"),
            OutputDir = temp.Sub("out"),
            Config = TinyModel.Config with
            {
                Method = TrainingMethods.Pretrain, MaxSteps = 300, BatchSize = 8, MaxLength = 64, LearningRate = 3e-3, WarmupSteps = 20,
                WeightDecay = 0.1, EvalSteps = 150, EvalSamples = 1, LoggingSteps = 10,
            },
        };
        var result = TrainingRun.Execute(spec, new SyncProgress(events.Add), TestContext.Current.CancellationToken);

        Assert.Equal(TrainingStatus.Succeeded, result.Status);
        Assert.Equal(300, result.Steps);
        var steps = Metrics.Of(spec.OutputDir, "train");
        Assert.Equal(30, steps.Count); // every 10th step
        var first = (double)steps[0]["train_loss"]!;
        var last = steps.TakeLast(3).Average(s => (double)s["train_loss"]!);
        // A byte model starts near ln(264) = 5.58; 300 steps on 2 KB of prose must take it far below.
        Assert.True(first > 4.5, $"first logged loss {first}");
        Assert.True(last < first - 2.5, $"train_loss {first:F3} -> {last:F3}");
        var evals = Metrics.Of(spec.OutputDir, "eval");
        Assert.Equal(2, evals.Count);
        Assert.True((double)evals[1]["valid_loss"]! < 3.5, $"valid_loss {evals[1]["valid_loss"]}");
        Assert.Equal(Math.Exp((double)evals[1]["valid_loss"]!), (double)evals[1]["perplexity"]!, 6);

        // Every logged step carries the named metrics with sane values.
        foreach (var name in new[] { "train_loss", "train_mean_token_accuracy", "learning_rate", "grad_norm", "tokens_per_second", "mfu", "step_time_ms", "memory_mb", "epoch" })
            Assert.True(steps[^1][name] is JsonValue, $"{name} missing");
        Assert.InRange((double)steps[^1]["train_mean_token_accuracy"]!, 0.3, 1.0);
        Assert.InRange((double)steps[^1]["mfu"]!, 1e-6, 1.0);
        Assert.True((double)steps[^1]["tokens_per_second"]! > 0 && (double)steps[^1]["memory_mb"]! > 50);
        Assert.InRange((double)steps[^1]["learning_rate"]!, 3e-4, 3.01e-4); // cosine ends at lr * min_lr_ratio
        var samples = evals[1]["samples"]!.AsArray();
        Assert.Single(samples);
        Assert.False(string.IsNullOrEmpty((string?)samples[0]!["generated"]));

        // The final model is a loadable HF folder with the tokenizer next to it, and it is the trained one.
        using var final = HfCheckpoint.Load(result.FinalModelPath!);
        Assert.True(File.Exists(Path.Combine(result.FinalModelPath!, "tokenizer_config.json")));
        Assert.Contains(events, e => e is StatusMessage s && s.Message.StartsWith("training pretrain", StringComparison.Ordinal));
        Assert.Empty(Directory.EnumerateDirectories(spec.OutputDir, "checkpoint-*"));
    }

    [Fact]
    public void The_built_in_starter_model_can_be_pretrained()
    {
        using var temp = new TempFolder();
        var spec = new TrainingSpec
        {
            Model = "starter:llama-tiny", TrainFile = TestData.File("coast.jsonl"), OutputDir = temp.Sub("out"),
            Config = TinyModel.Config with { Method = TrainingMethods.Pretrain, MaxSteps = 2, BatchSize = 2, MaxLength = 32 },
        };
        var result = TrainingRun.Execute(spec, null, TestContext.Current.CancellationToken);
        Assert.Equal(TrainingStatus.Succeeded, result.Status);
        Assert.Equal(256, ModelConfig.Load(result.FinalModelPath!).HiddenSize);
        Assert.Equal(2, Metrics.Of(spec.OutputDir, "train").Count);
    }
}
