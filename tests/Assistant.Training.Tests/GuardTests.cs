using Assistant.Modeling;
using Assistant.Modeling.Training;
using static TorchSharp.torch;

namespace Assistant.Training.Tests;

/// <summary>NaN guard, cancellation, early stopping and loading the best model.</summary>
public sealed class GuardTests
{
    static TrainingSpec PretrainSpec(TempFolder temp, TrainingConfig? config = null) => new()
    {
        Model = TinyModel.Create(temp.Sub("model")), TrainFile = TestData.File("coast.jsonl"), OutputDir = temp.Sub("out"),
        Config = config ?? TinyModel.Config with { Method = TrainingMethods.Pretrain },
    };

    [Fact]
    public void A_nan_loss_stops_the_run_with_nan_loss_and_keeps_the_last_good_checkpoint()
    {
        using var temp = new TempFolder();
        var spec = PretrainSpec(temp, TinyModel.Config with { Method = TrainingMethods.Pretrain, SaveSteps = 2 });
        var hooks = new TrainingHooks
        {
            BeforeStep = (step, model) =>
            {
                if (step != 5) return;
                using var _ = no_grad();
                model.parameters().First().fill_(float.NaN); // a diverged weight
            },
        };
        var result = TrainingRun.Execute(spec, null, TestContext.Current.CancellationToken, hooks);

        Assert.Equal(TrainingStatus.Failed, result.Status);
        Assert.Equal("nan_loss", result.Error!.Code);
        Assert.Contains("step 6", result.Error.Message);
        Assert.Equal(5, result.Steps);
        Assert.EndsWith("checkpoint-4", result.LastCheckpoint);
        Assert.Equal(4, new CheckpointStore(spec.OutputDir).Latest()!.Step);
        using var lastGood = HfCheckpoint.Load(result.LastCheckpoint!); // loads: finite weights
        Assert.All(lastGood.parameters(), p => Assert.False(p.isnan().any().item<bool>()));
        Assert.False(Directory.Exists(Path.Combine(spec.OutputDir, "final")));
        Assert.Equal(5, Metrics.Of(spec.OutputDir, "train").Count);
    }

    [Fact]
    public void Cancellation_stops_within_one_step_writes_nothing_half_done_and_frees_the_model()
    {
        using var temp = new TempFolder();
        var spec = PretrainSpec(temp, TinyModel.Config with { Method = TrainingMethods.Pretrain, MaxSteps = 1000, SaveSteps = 1, GradientAccumulationSteps = 3 });
        using var cancel = new CancellationTokenSource();
        CausalLM? seen = null;
        var hooks = new TrainingHooks { BeforeStep = (_, model) => seen = model };
        // Cancelled from the progress callback of step 3: no fourth step may run.
        var progress = new SyncProgress(e => { if (e is StepMetrics { Step: 3 }) cancel.Cancel(); });
        var result = TrainingRun.Execute(spec, progress, cancel.Token, hooks);

        Assert.Equal(TrainingStatus.Cancelled, result.Status);
        Assert.Equal("cancelled", result.StopReason);
        Assert.Equal(3, result.Steps);
        Assert.Equal(3, new CheckpointStore(spec.OutputDir).Latest()!.Step);
        Assert.Empty(Directory.EnumerateDirectories(spec.OutputDir, "*.tmp"));
        Assert.False(Directory.Exists(Path.Combine(spec.OutputDir, "final")));
        // The model's native memory was released when the run ended, not left to the GC.
        Assert.NotNull(seen);
        Assert.Throws<InvalidOperationException>(() => seen!.parameters().First().numel());
    }

    [Fact]
    public void A_cancel_from_another_thread_mid_step_discards_that_step()
    {
        using var temp = new TempFolder();
        var spec = PretrainSpec(temp, TinyModel.Config with { Method = TrainingMethods.Pretrain, MaxSteps = 100_000, GradientAccumulationSteps = 4 });
        using var cancel = new CancellationTokenSource();
        var steps = 0;
        var progress = new SyncProgress(e => { if (e is StepMetrics s) steps = s.Step; });
        cancel.CancelAfter(TimeSpan.FromSeconds(2));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = TrainingRun.Execute(spec, progress, cancel.Token);
        Assert.Equal(TrainingStatus.Cancelled, result.Status);
        Assert.Equal(steps, result.Steps);
        Assert.True(steps > 0 && steps < 100_000);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed} to stop");
    }

    [Fact]
    public void Early_stopping_ends_the_run_and_the_best_checkpoint_is_exported()
    {
        using var temp = new TempFolder();
        // Training on one letter while validating on another makes valid_loss rise after the first step.
        var train = TestData.Write(temp.Path, "a.jsonl", Enumerable.Range(0, 8).Select(_ => $$"""{"text":"{{new string('a', 80)}}"}""").ToArray());
        var valid = TestData.Write(temp.Path, "b.jsonl", $$"""{"text":"{{new string('b', 80)}}"}""");
        var spec = new TrainingSpec
        {
            Model = TinyModel.Create(temp.Sub("model")), TrainFile = train, ValidationFile = valid, OutputDir = temp.Sub("out"),
            Config = TinyModel.Config with
            {
                Method = TrainingMethods.Pretrain, MaxSteps = 50, WarmupSteps = 0, LearningRate = 1e-2, EvalSteps = 1,
                EarlyStoppingPatience = 2, LoadBestModelAtEnd = true, SaveSteps = 1, SaveTotalLimit = 1,
            },
        };
        var result = TrainingRun.Execute(spec, null, TestContext.Current.CancellationToken);

        Assert.Equal(TrainingStatus.Succeeded, result.Status);
        Assert.Equal("early_stopping", result.StopReason);
        Assert.Equal(3, result.Steps);
        var losses = Metrics.Of(spec.OutputDir, "eval").Select(e => (double)e["valid_loss"]!).ToArray();
        Assert.Equal(3, losses.Length);
        Assert.True(losses[1] > losses[0] && losses[2] > losses[0], string.Join(", ", losses));
        Assert.EndsWith("checkpoint-1", result.BestCheckpoint);
        Assert.Equal(losses[0], result.BestValidLoss);
        Assert.Equal(File.ReadAllBytes(Path.Combine(result.BestCheckpoint!, "model.safetensors")), File.ReadAllBytes(Path.Combine(result.FinalModelPath!, "model.safetensors")));
        // save_total_limit 1 keeps the newest checkpoint plus the best one.
        Assert.Equal(["checkpoint-1", "checkpoint-3"], Directory.EnumerateDirectories(spec.OutputDir, "checkpoint-*").Select(Path.GetFileName).Order().ToArray());
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(spec.OutputDir, "checkpoint-3", "model.safetensors")), File.ReadAllBytes(Path.Combine(result.FinalModelPath!, "model.safetensors")));
    }
}

/// <summary>STYLE's memory discipline: a step, an eval with generations, or a checkpoint leaves no tensor behind.</summary>
public sealed class MemoryTests
{
    [Fact]
    public void Live_tensors_do_not_grow_from_step_to_step()
    {
        using var temp = new TempFolder();
        var live = new Dictionary<int, long>();
        var spec = new TrainingSpec
        {
            Model = TinyModel.Create(temp.Sub("model")), TrainFile = TestData.File("support_train.jsonl"), ValidationFile = TestData.File("support_valid.jsonl"),
            OutputDir = temp.Sub("out"), Config = TinyModel.Config with { MaxSteps = 10, MaxLength = 128, EvalSteps = 2, EvalSamples = 2, SaveSteps = 2, Packing = true },
        };
        var hooks = new TrainingHooks { BeforeStep = (step, _) => live[step] = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount };
        Assert.Equal(TrainingStatus.Succeeded, TrainingRun.Execute(spec, null, TestContext.Current.CancellationToken, hooks).Status);
        // From step 3 on the optimizer state exists; three more evals, generations and checkpoints later nothing was added.
        Assert.Equal(live[3], live[9]);
    }
}
