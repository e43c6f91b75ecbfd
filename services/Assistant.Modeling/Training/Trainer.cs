using System.Diagnostics;
using Assistant.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Assistant.Modeling.Training;

/// <summary>Test seams: a fault or a cancel injected at an exact point of a run.</summary>
public sealed class TrainingHooks
{
    /// <summary>Called before optimizer step <c>step</c> (0-based) starts.</summary>
    public Action<int, CausalLM>? BeforeStep { get; init; }
    /// <summary>Called with the fully written temporary checkpoint folder, just before it is renamed into place.</summary>
    public Action<string>? BeforeCheckpointCommit { get; init; }
}

/// <summary>AdamW over CausalLM's weight-decay groups.</summary>
public static class Optimization
{
    /// <summary>AdamW with weight decay on <paramref name="decay"/> only (matrices), none on norms, biases and embeddings.</summary>
    public static AdamW CreateAdamW(IEnumerable<Parameter> decay, IEnumerable<Parameter> noDecay, TrainingConfig c)
    {
        var groups = new List<AdamW.ParamGroup>();
        var (withDecay, without) = (decay.ToList(), noDecay.ToList());
        if (withDecay.Count > 0) groups.Add(new AdamW.ParamGroup(withDecay, c.LearningRate, c.AdamBeta1, c.AdamBeta2, c.AdamEpsilon, c.WeightDecay, false, false));
        if (without.Count > 0) groups.Add(new AdamW.ParamGroup(without, c.LearningRate, c.AdamBeta1, c.AdamBeta2, c.AdamEpsilon, 0.0, false, false));
        return optim.AdamW(groups, c.LearningRate, c.AdamBeta1, c.AdamBeta2, c.AdamEpsilon, c.WeightDecay, false, false);
    }

    public static AdamW CreateAdamW(CausalLM model, TrainingConfig c)
    {
        var groups = model.GroupParametersForWeightDecay();
        return CreateAdamW(groups.Decay.Select(p => p.Parameter), groups.NoDecay.Select(p => p.Parameter), c);
    }
}

/// <summary>
/// One training run over a loaded model: the loop, evaluation, checkpoints, early stopping, NaN guard,
/// cancellation and export. Build it through <see cref="TrainingRun.Execute"/>; it owns and disposes the model.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly CausalLM model;
    readonly LoraAdapters? lora;
    readonly AdamW optimizer;
    readonly List<Parameter> trainable;
    readonly SequenceEncoder encoder;
    readonly BatchSchedule train;
    readonly BatchSchedule? valid, test;
    readonly IReadOnlyList<TrainingExample> validExamples, testExamples;
    readonly TrainingConfig config;
    readonly CheckpointStore store;
    readonly MetricsLog metrics;
    readonly TrainingHooks hooks;
    readonly LearningRateSchedule schedule;
    readonly Device device;
    readonly double flopsPerToken, peakFlops;
    readonly string outputDir;

    public int TotalSteps { get; }

    internal Trainer(CausalLM model, SequenceEncoder encoder, BatchSchedule train, BatchSchedule? valid, IReadOnlyList<TrainingExample> validExamples,
        BatchSchedule? test, IReadOnlyList<TrainingExample> testExamples, TrainingConfig config, string outputDir, TrainingHooks? hooks)
    {
        (this.model, this.encoder, this.train, this.valid, this.validExamples, this.test, this.testExamples, this.config, this.outputDir) =
            (model, encoder, train, valid, validExamples, test, testExamples, config, outputDir);
        this.hooks = hooks ?? new TrainingHooks();
        store = new CheckpointStore(outputDir);
        metrics = new MetricsLog(Path.Combine(outputDir, TrainingRun.MetricsFile));
        device = model.parameters().First().device;
        TotalSteps = config.MaxSteps > 0 ? config.MaxSteps
            : Math.Max(1, (int)Math.Ceiling(config.NumEpochs * train.BatchesPerEpoch / config.GradientAccumulationSteps));
        schedule = LearningRateSchedule.From(config, TotalSteps);
        if (config.IsLora)
        {
            lora = LoraAdapters.Attach(model, config.LoraR, config.LoraAlpha, config.LoraDropout, config.LoraTargetModules, config.Seed);
            trainable = lora.NamedParameters().Select(p => p.Parameter).ToList();
            optimizer = Optimization.CreateAdamW(trainable, [], config);
        }
        else
        {
            foreach (var p in model.parameters()) p.requires_grad = true;
            trainable = model.parameters().ToList();
            optimizer = Optimization.CreateAdamW(model, config);
        }
        flopsPerToken = model.FlopsPerToken(config.MaxLength);
        peakFlops = config.PeakFlops > 0 ? config.PeakFlops : MachineInfo.CpuPeakFlops(torch.get_num_threads());
    }

    public CausalLM Model => model;
    public LoraAdapters? Lora => lora;

    public TrainingResult Run(IProgress<TrainingEvent>? progress, bool resume, CancellationToken ct)
    {
        void Report(TrainingEvent e)
        {
            if (e is StepMetrics or EvalMetrics or TestMetrics) metrics.Append(e);
            progress?.Report(e);
        }

        var state = Start(resume, Report);
        var step = state.Step;
        var cursor = state.MicroBatchCursor;
        var (bestLoss, bestName, patience) = (state.BestValidLoss, state.BestCheckpoint, state.EvalsWithoutImprovement);
        var (lastEval, lastStepMetrics) = (state.LastEval, state.LastStep);
        string? lastCheckpoint = store.Latest()?.Path;
        var stopReason = config.MaxSteps > 0 ? "max_steps" : "epochs";
        double Epoch(long microBatches) => (double)microBatches / train.BatchesPerEpoch;
        try
        {
            if (config.EvalOnStart && step == 0 && valid is not null)
            {
                Report(lastEval = Evaluate(0, 0, ct));
                bestLoss = lastEval.ValidLoss; // the baseline to improve on (early stopping counts from here)
            }
            model.train();
            while (step < TotalSteps)
            {
                ct.ThrowIfCancellationRequested();
                hooks.BeforeStep?.Invoke(step, model);
                ct.ThrowIfCancellationRequested();
                var watch = Stopwatch.StartNew();
                var lr = schedule.At(step);
                foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
                var micro = Enumerable.Range(0, config.GradientAccumulationSteps).Select(i => train.Get(cursor + i)).ToArray();
                var lossTokens = micro.Sum(b => (long)b.LossTokens);
                double lossSum = 0;
                long correct = 0;
                foreach (var batch in micro)
                {
                    ct.ThrowIfCancellationRequested();
                    if (batch.LossTokens == 0) continue;
                    using var scope = NewDisposeScope();
                    var (sum, right) = Evaluator.LossSum(model, batch, device);
                    var value = sum.item<float>();
                    if (!float.IsFinite(value)) throw new NanLossException($"train_loss is {value} at step {step + 1}");
                    lossSum += value;
                    correct += right;
                    (sum / lossTokens).backward();
                }
                double gradNorm;
                using (NewDisposeScope())
                    gradNorm = nn.utils.clip_grad_norm_(trainable, config.MaxGradNorm > 0 ? config.MaxGradNorm : double.MaxValue, 2.0);
                if (lossTokens > 0 && !double.IsFinite(gradNorm)) throw new NanLossException($"grad_norm is {gradNorm} at step {step + 1}");
                if (lossTokens > 0)
                {
                    using (NewDisposeScope()) optimizer.step();
                }
                using (NewDisposeScope()) optimizer.zero_grad(); // p.grad wrappers would otherwise outlive the step
                cursor += micro.Length;
                step++;
                watch.Stop();

                var seconds = watch.Elapsed.TotalSeconds;
                var tokensPerSecond = micro.Sum(b => (long)b.RealTokens) / seconds;
                lastStepMetrics = new StepMetrics
                {
                    Step = step, TotalSteps = TotalSteps, Epoch = Epoch(cursor),
                    TrainLoss = lossTokens > 0 ? lossSum / lossTokens : double.NaN,
                    TrainMeanTokenAccuracy = lossTokens > 0 ? (double)correct / lossTokens : double.NaN,
                    LearningRate = lr, GradNorm = gradNorm, TokensPerSecond = tokensPerSecond,
                    Mfu = flopsPerToken * tokensPerSecond / peakFlops, StepTimeMs = seconds * 1000,
                    MemoryMb = MachineInfo.ResidentMb(), LossTokens = lossTokens,
                };
                if (step % config.LoggingSteps == 0 || step == TotalSteps) Report(lastStepMetrics);

                var newBest = false;
                if (valid is not null && ((config.EvalSteps > 0 && step % config.EvalSteps == 0) || step == TotalSteps))
                {
                    Report(lastEval = Evaluate(step, Epoch(cursor), ct));
                    if (bestLoss is null || lastEval.ValidLoss < bestLoss) { (bestLoss, patience, newBest) = (lastEval.ValidLoss, 0, true); }
                    else patience++;
                }
                var earlyStop = config.EarlyStoppingPatience > 0 && patience >= config.EarlyStoppingPatience;
                var save = (config.SaveSteps > 0 && step % config.SaveSteps == 0)
                           || (newBest && (config.LoadBestModelAtEnd || config.SaveSteps > 0));
                if (save)
                {
                    if (newBest) bestName = CheckpointStore.NameFor(step);
                    var saved = new TrainerState
                    {
                        Step = step, TotalSteps = TotalSteps, MicroBatchCursor = cursor, Epoch = Epoch(cursor), Method = config.Method,
                        BestValidLoss = bestLoss, BestCheckpoint = bestName, EvalsWithoutImprovement = patience,
                        LastStep = lastStepMetrics, LastEval = lastEval,
                    };
                    lastCheckpoint = store.Write(step, saved, config, WriteWeightsAndOptimizer, hooks.BeforeCheckpointCommit);
                    store.Prune(config.SaveTotalLimit, bestName is null ? null : Path.Combine(outputDir, bestName));
                    Report(new CheckpointSaved { Step = step, Path = lastCheckpoint, IsBest = newBest });
                }
                if (earlyStop)
                {
                    stopReason = "early_stopping";
                    Report(new StatusMessage { Step = step, Message = $"early stopping: valid_loss has not improved for {patience} evaluations (best {bestLoss:F4})" });
                    break;
                }
            }

            var bestPath = bestName is null ? null : Path.Combine(outputDir, bestName);
            if (config.LoadBestModelAtEnd && bestPath is not null && Directory.Exists(bestPath) && bestName != CheckpointStore.NameFor(step))
            {
                LoadWeights(bestPath);
                Report(new StatusMessage { Step = step, Message = $"loaded the best checkpoint {bestName} (valid_loss {bestLoss:F4})" });
            }
            TestMetrics? testMetrics = null;
            if (test is not null) Report(testMetrics = Test(step, ct));
            var final = Export();
            Report(new StatusMessage { Step = step, Message = $"saved the model to {final}" });
            return new TrainingResult
            {
                Status = TrainingStatus.Succeeded, Steps = step, FinalModelPath = final, LastCheckpoint = lastCheckpoint,
                BestCheckpoint = bestPath, BestValidLoss = bestLoss, LastEval = lastEval, Test = testMetrics, StopReason = stopReason,
            };
        }
        catch (NanLossException e)
        {
            Report(new StatusMessage { Step = step, Message = $"stopped: {e.Message}; the last good checkpoint is {lastCheckpoint ?? "(none)"}" });
            return new TrainingResult
            {
                Status = TrainingStatus.Failed, Steps = step, Error = new TrainingError("nan_loss", $"Training diverged: {e.Message}."),
                LastCheckpoint = lastCheckpoint, BestCheckpoint = bestName is null ? null : Path.Combine(outputDir, bestName),
                BestValidLoss = bestLoss, LastEval = lastEval, StopReason = "nan_loss",
            };
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new TrainingResult
            {
                Status = TrainingStatus.Cancelled, Steps = step, LastCheckpoint = lastCheckpoint,
                BestCheckpoint = bestName is null ? null : Path.Combine(outputDir, bestName), BestValidLoss = bestLoss,
                LastEval = lastEval, StopReason = "cancelled",
            };
        }
    }

    /// <summary>Restores the latest complete checkpoint when resuming, else clears what an earlier run left.</summary>
    TrainerState Start(bool resume, Action<TrainingEvent> report)
    {
        Directory.CreateDirectory(outputDir);
        store.RemoveIncomplete();
        var latest = resume ? store.Latest() : null;
        if (latest is null)
        {
            store.Clear();
            metrics.Reset();
            torch.manual_seed(config.Seed);
            report(new StatusMessage { Step = 0, Message = $"training {config.Method}: {TotalSteps} steps, {train.RowCount} rows of up to {config.MaxLength} tokens, {TrainableParameterCount:N0} trainable parameters" });
            return new TrainerState { Step = 0, TotalSteps = TotalSteps, MicroBatchCursor = 0, Epoch = 0, Method = config.Method };
        }
        var state = CheckpointStore.ReadState(latest.Path);
        if (state.Method != config.Method)
            throw new TrainingConfigException($"method '{config.Method}' cannot resume {latest.Path}, which was trained with '{state.Method}'.");
        LoadWeights(latest.Path);
        using (var reader = new BinaryReader(File.OpenRead(Path.Combine(latest.Path, CheckpointStore.OptimizerFile))))
            optimizer.load_state_dict(reader);
        using (var rng = torch.tensor(File.ReadAllBytes(Path.Combine(latest.Path, CheckpointStore.RngFile))))
            torch.random.set_rng_state(rng);
        metrics.TruncateAfter(state.Step);
        report(new StatusMessage { Step = state.Step, Message = $"resumed from {latest.Path} at step {state.Step}/{TotalSteps}" });
        return state;
    }

    public long TrainableParameterCount => trainable.Sum(p => p.numel());

    void WriteWeightsAndOptimizer(string folder)
    {
        if (lora is not null) lora.Save(folder, model.SourceFolder);
        else HfCheckpoint.Save(model, folder);
        using (var writer = new BinaryWriter(File.Create(Path.Combine(folder, CheckpointStore.OptimizerFile))))
            optimizer.save_state_dict(writer);
        using var rng = torch.random.get_rng_state();
        File.WriteAllBytes(Path.Combine(folder, CheckpointStore.RngFile), rng.bytes.ToArray());
    }

    void LoadWeights(string checkpoint)
    {
        if (lora is not null) lora.Load(checkpoint);
        else HfCheckpoint.LoadWeights(model, checkpoint);
    }

    EvalMetrics Evaluate(int step, double epoch, CancellationToken ct)
    {
        var (loss, accuracy, _) = Evaluator.Loss(model, valid!, ct);
        var samples = config.EvalSamples > 0
            ? Evaluator.Generate(model, encoder, validExamples.Where(e => e.Messages is not null || e.Text is not null).Take(config.EvalSamples).ToList(), config.MaxNewTokens, ct)
            : [];
        return new EvalMetrics { Step = step, Epoch = epoch, ValidLoss = loss, Perplexity = Math.Exp(loss), ValidMeanTokenAccuracy = accuracy, Samples = samples };
    }

    TestMetrics Test(int step, CancellationToken ct)
    {
        var (loss, accuracy, _) = Evaluator.Loss(model, test!, ct);
        var scored = config.MaxTestExamples > 0 ? testExamples.Take(config.MaxTestExamples).ToList() : testExamples.ToList();
        var samples = Evaluator.Generate(model, encoder, scored, config.MaxNewTokens, ct);
        return new TestMetrics
        {
            Step = step, TestLoss = loss, TestPerplexity = Math.Exp(loss), TestMeanTokenAccuracy = accuracy,
            ExactMatch = samples.Count == 0 ? 0 : samples.Average(s => TextScores.ExactMatch(s.Generated, s.Reference)),
            RougeL = samples.Count == 0 ? 0 : samples.Average(s => TextScores.RougeL(s.Generated, s.Reference)),
            Examples = samples.Count, Samples = samples,
        };
    }

    /// <summary>The final HF folder (LoRA merged into the base; the adapter itself also kept in <c>adapter/</c>), written via a temporary folder.</summary>
    string Export()
    {
        if (lora is not null)
        {
            ReplaceAtomically(Path.Combine(outputDir, TrainingRun.AdapterFolder), folder => lora.Save(folder, model.SourceFolder));
            lora.Merge();
        }
        var final = Path.Combine(outputDir, TrainingRun.FinalFolder);
        ReplaceAtomically(final, folder => HfCheckpoint.Save(model, folder));
        return final;
    }

    static void ReplaceAtomically(string target, Action<string> write)
    {
        var temporary = target + CheckpointStore.TempSuffix;
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        write(temporary);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.Move(temporary, target);
    }

    /// <summary>Frees the model, adapters and optimizer state now rather than at the next GC.</summary>
    public void Dispose()
    {
        optimizer.Dispose();
        lora?.Dispose();
        model.Dispose();
    }

    sealed class NanLossException(string message) : Exception(message);
}

/// <summary><c>metrics.jsonl</c>: one JSON object per logged step, eval and test, flushed as written.</summary>
internal sealed class MetricsLog(string path)
{
    public void Append(TrainingEvent e) => File.AppendAllText(path, e.ToJson() + "\n");

    public void Reset()
    {
        if (File.Exists(path)) File.Delete(path);
    }

    /// <summary>On resume: drops lines a crashed run wrote after the checkpoint, so the file reads as one uninterrupted run.</summary>
    public void TruncateAfter(int step)
    {
        if (!File.Exists(path)) return;
        var kept = File.ReadAllLines(path).Where(line =>
        {
            try { return TrainingEvent.FromJson(line) is { } e && e.Step <= step; }
            catch (System.Text.Json.JsonException) { return false; } // a line cut short by the crash
        }).ToList();
        var temporary = path + CheckpointStore.TempSuffix;
        File.WriteAllLines(temporary, kept);
        File.Move(temporary, path, overwrite: true);
    }
}
