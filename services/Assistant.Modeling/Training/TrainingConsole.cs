using System.Globalization;

namespace Assistant.Modeling.Training;

/// <summary>What <c>assistant train</c> was given on its command line.</summary>
public sealed record TrainCommandOptions
{
    public required string Model { get; init; }
    public required string Data { get; init; }
    public string? Validation { get; init; }
    public string? Test { get; init; }
    public required string Out { get; init; }
    /// <summary>pretrain, full or lora (sft = full); null = the config file's, else full.</summary>
    public string? Method { get; init; }
    public int? MaxSteps { get; init; }
    public double? Epochs { get; init; }
    public string? ConfigFile { get; init; }
    public bool Resume { get; init; }
}

/// <summary>
/// <c>assistant train</c> on local files: builds the spec from the options (the config file, then the
/// flags on top), runs it, and shows progress as a bar on a terminal or one plain line per logged step
/// otherwise. User errors become one readable line on stderr and exit code 1; NaN loss exits 2, cancel 130.
/// </summary>
public static class TrainingConsole
{
    public const int Ok = 0, UserError = 1, TrainingFailed = 2, Cancelled = 130;

    public static TrainingSpec BuildSpec(TrainCommandOptions options)
    {
        var config = new TrainingConfig();
        if (options.ConfigFile is not null)
        {
            if (!File.Exists(options.ConfigFile)) throw new TrainingConfigException($"--config: no such file '{options.ConfigFile}'.");
            config = TrainingConfig.FromJson(File.ReadAllText(options.ConfigFile), options.ConfigFile);
        }
        if (options.Method is not null)
            config = config with { Method = options.Method == "sft" ? TrainingMethods.Full : options.Method };
        if (options.MaxSteps is int steps) config = config with { MaxSteps = steps };
        if (options.Epochs is double epochs) config = config with { NumEpochs = epochs, MaxSteps = options.MaxSteps ?? 0 };
        config.Validate();
        return new TrainingSpec
        {
            Model = options.Model, TrainFile = options.Data, ValidationFile = options.Validation, TestFile = options.Test,
            OutputDir = options.Out, Config = config, Resume = options.Resume,
        };
    }

    public static int Run(TrainCommandOptions options, TextWriter output, TextWriter error, bool progressBar, CancellationToken ct)
    {
        MachineInfo.PreferPassiveOpenMpWaits();
        TrainingResult result;
        var display = new ProgressDisplay(output, progressBar);
        try
        {
            result = TrainingRun.Execute(BuildSpec(options), display, ct);
        }
        catch (Exception e) when (e is TrainingDataException or TrainingConfigException or ModelFormatException)
        {
            display.EndLine();
            error.WriteLine(e.Message);
            return UserError;
        }
        display.EndLine();
        switch (result.Status)
        {
            case TrainingStatus.Succeeded:
                output.WriteLine($"done: {result.Steps} steps ({result.StopReason}); model in {result.FinalModelPath}");
                return Ok;
            case TrainingStatus.Cancelled:
                error.WriteLine($"cancelled after step {result.Steps}; resume with --resume from {result.LastCheckpoint ?? "the start (no checkpoint yet)"}");
                return Cancelled;
            default:
                error.WriteLine($"{result.Error!.Code}: {result.Error.Message} Last good checkpoint: {result.LastCheckpoint ?? "(none)"}.");
                return TrainingFailed;
        }
    }

    /// <summary>Formats events: a bar redrawn in place on a terminal, nanoGPT-style lines otherwise.</summary>
    sealed class ProgressDisplay(TextWriter output, bool bar) : IProgress<TrainingEvent>
    {
        bool open;

        public void Report(TrainingEvent e)
        {
            switch (e)
            {
                case StepMetrics s when bar:
                    const int width = 30;
                    var done = (int)(width * (double)s.Step / s.TotalSteps);
                    output.Write(Invariant($"\r[{new string('#', done)}{new string('.', width - done)}] {s.Step}/{s.TotalSteps} | loss {s.TrainLoss:F4} | {s.TokensPerSecond:F0} tok/s | mfu {s.Mfu * 100:F0}%  "));
                    open = true;
                    break;
                case StepMetrics s:
                    output.WriteLine(Invariant($"step {s.Step}/{s.TotalSteps} | loss {s.TrainLoss:F4} | acc {s.TrainMeanTokenAccuracy * 100:F1}% | lr {s.LearningRate:0.0e+0} | norm {s.GradNorm:F3} | {s.TokensPerSecond:F0} tok/s | mfu {s.Mfu * 100:F0}% | {s.StepTimeMs:F0} ms | {s.MemoryMb:F0} MiB"));
                    break;
                case EvalMetrics v:
                    EndLine();
                    output.WriteLine(Invariant($"eval step {v.Step} | valid_loss {v.ValidLoss:F4} | perplexity {v.Perplexity:F2} | acc {v.ValidMeanTokenAccuracy * 100:F1}%"));
                    foreach (var sample in v.Samples) output.WriteLine($"  > {Short(sample.Prompt)}\n    reference: {Short(sample.Reference)}\n    generated: {Short(sample.Generated)}");
                    break;
                case TestMetrics t:
                    EndLine();
                    output.WriteLine(Invariant($"test | loss {t.TestLoss:F4} | perplexity {t.TestPerplexity:F2} | exact match {t.ExactMatch * 100:F1}% | rouge-l {t.RougeL:F3} | {t.Examples} examples"));
                    break;
                case CheckpointSaved c when !bar:
                    output.WriteLine($"checkpoint {c.Path}{(c.IsBest ? " (best)" : "")}");
                    break;
                case StatusMessage m:
                    EndLine();
                    output.WriteLine(m.Message);
                    break;
            }
        }

        public void EndLine()
        {
            if (!open) return;
            output.WriteLine();
            open = false;
        }

        static string Short(string text) => (text.Length > 100 ? text[..100] + "..." : text).ReplaceLineEndings(" ");
        static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
    }
}
