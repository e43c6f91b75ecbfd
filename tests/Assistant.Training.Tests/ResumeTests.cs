using Assistant.Modeling.Training;

namespace Assistant.Training.Tests;

/// <summary>Interrupt at step k (a kill while writing a checkpoint, or a cancel), resume, finish: bit for bit the uninterrupted run.</summary>
public sealed class ResumeTests
{
    static readonly string[] StepFields = ["train_loss", "train_mean_token_accuracy", "learning_rate", "grad_norm", "epoch"];

    [Fact]
    public void A_kill_while_writing_a_checkpoint_then_resume_reproduces_the_uninterrupted_run_bit_for_bit()
    {
        using var temp = new TempFolder();
        var model = TinyModel.Create(temp.Sub("model"));
        TrainingSpec Spec(string outputDir) => new()
        {
            Model = model, TrainFile = TestData.File("coast.jsonl"), ValidationFile = TestData.File("coast_valid.jsonl"), OutputDir = outputDir,
            Config = TinyModel.Config with { Method = TrainingMethods.Pretrain, MaxSteps = 10, SaveSteps = 3, EvalSteps = 5, SaveTotalLimit = 2, WeightDecay = 0.1 },
        };
        var ct = TestContext.Current.CancellationToken;
        var reference = TrainingRun.Execute(Spec(temp.Sub("a")), null, ct);
        Assert.Equal(TrainingStatus.Succeeded, reference.Status);

        var interrupted = Spec(temp.Sub("b"));
        var hooks = new TrainingHooks
        {
            BeforeCheckpointCommit = folder =>
            {
                if (Path.GetFileName(folder) == "checkpoint-6.tmp") throw new IOException("simulated kill while writing checkpoint-6");
            },
        };
        Assert.Throws<IOException>(() => TrainingRun.Execute(interrupted, null, ct, hooks));
        Assert.True(Directory.Exists(Path.Combine(interrupted.OutputDir, "checkpoint-6.tmp")));
        Assert.True(File.Exists(Path.Combine(interrupted.OutputDir, "checkpoint-6.tmp", CheckpointStore.CompleteMarker))); // even a finished .tmp is never read
        Assert.Equal(5, new CheckpointStore(interrupted.OutputDir).Latest()!.Step); // the best (eval at 5) came after checkpoint-3
        Assert.Equal(6, Metrics.Of(interrupted.OutputDir, "train").Count);

        var events = new List<TrainingEvent>();
        var resumed = TrainingRun.Execute(interrupted with { Resume = true }, new SyncProgress(events.Add), ct);
        Assert.Equal(TrainingStatus.Succeeded, resumed.Status);
        Assert.Contains(events, e => e is StatusMessage { Message: var m } && m.Contains("resumed from") && m.Contains("at step 5/10"));
        Assert.False(Directory.Exists(Path.Combine(interrupted.OutputDir, "checkpoint-6.tmp")));

        AssertSameRun(Spec(temp.Sub("a")).OutputDir, interrupted.OutputDir);
        // Keep the last 2 plus the best.
        Assert.Equal(["checkpoint-10", "checkpoint-9"], Directory.EnumerateDirectories(interrupted.OutputDir, "checkpoint-*").Select(Path.GetFileName).Order().ToArray());
    }

    [Fact]
    public void A_cancelled_lora_run_with_dropout_packing_and_accumulation_resumes_bit_for_bit()
    {
        using var temp = new TempFolder();
        var model = TinyModel.Create(temp.Sub("model"));
        TrainingSpec Spec(string outputDir) => new()
        {
            Model = model, TrainFile = TestData.File("support_train.jsonl"), OutputDir = outputDir,
            Config = TinyModel.Config with
            {
                Method = TrainingMethods.Lora, MaxSteps = 8, SaveSteps = 2, GradientAccumulationSteps = 2, Packing = true, MaxLength = 128,
                LoraR = 4, LoraDropout = 0.2, LoraTargetModules = ["q_proj", "v_proj", "down_proj"], LearningRate = 1e-2,
            },
        };
        var ct = TestContext.Current.CancellationToken;
        Assert.Equal(TrainingStatus.Succeeded, TrainingRun.Execute(Spec(temp.Sub("a")), null, ct).Status);

        using var cancel = new CancellationTokenSource();
        var interrupted = Spec(temp.Sub("b"));
        var result = TrainingRun.Execute(interrupted, null, cancel.Token, new TrainingHooks { BeforeStep = (step, _) => { if (step == 5) cancel.Cancel(); } });
        Assert.Equal(TrainingStatus.Cancelled, result.Status);
        Assert.Equal(5, result.Steps);
        Assert.Equal(4, new CheckpointStore(interrupted.OutputDir).Latest()!.Step);
        var checkpointFiles = Directory.EnumerateFiles(Path.Combine(interrupted.OutputDir, "checkpoint-4")).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(["adapter_config.json", "adapter_model.safetensors", "complete", "optimizer.bin", "rng_state.bin", "trainer_state.json", "training_config.json"], checkpointFiles);

        Assert.Equal(TrainingStatus.Succeeded, TrainingRun.Execute(interrupted with { Resume = true }, null, ct).Status);
        AssertSameRun(temp.Sub("a"), interrupted.OutputDir);
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Sub("a"), "adapter", "adapter_model.safetensors")),
                     File.ReadAllBytes(Path.Combine(interrupted.OutputDir, "adapter", "adapter_model.safetensors")));
    }

    static void AssertSameRun(string expectedDir, string actualDir)
    {
        var expected = Metrics.Of(expectedDir, "train");
        var actual = Metrics.Of(actualDir, "train");
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
            foreach (var field in StepFields)
                Assert.True((double)expected[i][field]! == (double)actual[i][field]!, $"step {expected[i]["step"]} {field}: {expected[i][field]} vs {actual[i][field]}");
        Assert.Equal(Metrics.Of(expectedDir, "eval").Select(e => (double)e["valid_loss"]!), Metrics.Of(actualDir, "eval").Select(e => (double)e["valid_loss"]!));
        Assert.Equal(File.ReadAllBytes(Path.Combine(expectedDir, "final", "model.safetensors")), File.ReadAllBytes(Path.Combine(actualDir, "final", "model.safetensors")));
    }
}
