using System.Globalization;
using System.Text.Json;

namespace Assistant.Modeling.Training;

/// <summary>Where a run stood when a checkpoint was written: enough, with weights, optimizer and RNG, to continue exactly.</summary>
public sealed record TrainerState
{
    public required int Step { get; init; }
    public required int TotalSteps { get; init; }
    /// <summary>Micro-batches consumed so far: the data-order cursor.</summary>
    public required long MicroBatchCursor { get; init; }
    public required double Epoch { get; init; }
    public required string Method { get; init; }
    public double? BestValidLoss { get; init; }
    public string? BestCheckpoint { get; init; }
    public int EvalsWithoutImprovement { get; init; }
    public StepMetrics? LastStep { get; init; }
    public EvalMetrics? LastEval { get; init; }
}

/// <summary>A complete checkpoint folder.</summary>
public sealed record CheckpointInfo(string Path, int Step);

/// <summary>
/// <c>checkpoint-N</c> folders in a run's output folder. A checkpoint is written into
/// <c>checkpoint-N.tmp</c>, every file fsynced, a <c>complete</c> marker written last, and only then renamed:
/// a crash at any moment leaves either the old set or a <c>.tmp</c> folder that is never read.
/// Layout: weights (HF files, or PEFT adapter files for LoRA), <c>optimizer.bin</c>, <c>rng_state.bin</c>,
/// <c>trainer_state.json</c>, <c>training_config.json</c>, <c>complete</c>.
/// </summary>
public sealed class CheckpointStore(string outputDir)
{
    public const string Prefix = "checkpoint-";
    public const string TempSuffix = ".tmp";
    public const string CompleteMarker = CheckpointFiles.CompleteMarker;
    public const string StateFile = CheckpointFiles.TrainerState;
    public const string ConfigFile = CheckpointFiles.TrainingConfig;
    public const string OptimizerFile = CheckpointFiles.Optimizer;
    public const string RngFile = CheckpointFiles.Rng;

    static readonly JsonSerializerOptions Json = new(TrainingEvent.JsonOptions) { WriteIndented = true };

    public string OutputDir { get; } = outputDir;

    public static string NameFor(int step) => Prefix + step.ToString(CultureInfo.InvariantCulture);

    /// <summary>Complete checkpoints, oldest first; <c>.tmp</c> folders and folders without the marker are ignored.</summary>
    public IReadOnlyList<CheckpointInfo> List()
    {
        if (!Directory.Exists(OutputDir)) return [];
        return Directory.EnumerateDirectories(OutputDir, Prefix + "*")
            .Select(path => (path, name: Path.GetFileName(path)))
            .Where(d => int.TryParse(d.name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out _)
                        && File.Exists(Path.Combine(d.path, CompleteMarker)))
            .Select(d => new CheckpointInfo(d.path, int.Parse(d.name.AsSpan(Prefix.Length), CultureInfo.InvariantCulture)))
            .OrderBy(c => c.Step)
            .ToList();
    }

    public CheckpointInfo? Latest() => List().LastOrDefault();

    /// <summary>Removes what a crash can leave behind: <c>.tmp</c> folders and checkpoint folders without the marker.</summary>
    public void RemoveIncomplete()
    {
        if (!Directory.Exists(OutputDir)) return;
        foreach (var dir in Directory.EnumerateDirectories(OutputDir, Prefix + "*"))
            if (dir.EndsWith(TempSuffix, StringComparison.Ordinal) || !File.Exists(Path.Combine(dir, CompleteMarker)))
                Directory.Delete(dir, recursive: true);
    }

    /// <summary>Writes checkpoint <paramref name="step"/> atomically; <paramref name="beforeCommit"/> sees the finished temporary folder (tests crash there).</summary>
    public string Write(int step, TrainerState state, TrainingConfig config, Action<string> writeWeightsAndOptimizer, Action<string>? beforeCommit = null)
    {
        var final = Path.Combine(OutputDir, NameFor(step));
        var temporary = final + TempSuffix;
        if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        Directory.CreateDirectory(temporary);
        writeWeightsAndOptimizer(temporary);
        File.WriteAllText(Path.Combine(temporary, StateFile), JsonSerializer.Serialize(state, Json));
        File.WriteAllText(Path.Combine(temporary, ConfigFile), config.ToJson());
        foreach (var file in Directory.EnumerateFiles(temporary, "*", SearchOption.AllDirectories)) Fsync(file);
        File.WriteAllText(Path.Combine(temporary, CompleteMarker), "");
        Fsync(Path.Combine(temporary, CompleteMarker));
        beforeCommit?.Invoke(temporary);
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(temporary, final);
        return final;
    }

    public static TrainerState ReadState(string checkpoint) =>
        JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(Path.Combine(checkpoint, StateFile)), Json)
        ?? throw new InvalidDataException($"'{checkpoint}' has an empty {StateFile}.");

    /// <summary>Deletes all but the <paramref name="keepLast"/> newest checkpoints, never <paramref name="best"/>.</summary>
    public void Prune(int keepLast, string? best)
    {
        var all = List();
        foreach (var old in all.Take(Math.Max(0, all.Count - keepLast)))
        {
            if (best is not null && SamePath(old.Path, best)) continue;
            // Rename first so a crash mid-delete never leaves a half-deleted folder that still looks complete.
            var doomed = old.Path + TempSuffix;
            Directory.Move(old.Path, doomed);
            Directory.Delete(doomed, recursive: true);
        }
    }

    /// <summary>Deletes every checkpoint (a fresh run in a used folder).</summary>
    public void Clear()
    {
        if (!Directory.Exists(OutputDir)) return;
        foreach (var dir in Directory.EnumerateDirectories(OutputDir, Prefix + "*")) Directory.Delete(dir, recursive: true);
    }

    static bool SamePath(string a, string b) =>
        string.Equals(Path.GetFullPath(a).TrimEnd('/'), Path.GetFullPath(b).TrimEnd('/'), StringComparison.Ordinal);

    static void Fsync(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }
}
