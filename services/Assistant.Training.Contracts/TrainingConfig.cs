using System.Text.Json;
using System.Text.Json.Serialization;

namespace Assistant.Modeling.Training;

/// <summary>How a run changes the model.</summary>
public static class TrainingMethods
{
    /// <summary>Plain text (or whole conversations), every token trained, all weights updated.</summary>
    public const string Pretrain = "pretrain";
    /// <summary>Supervised fine-tune of all weights; loss on assistant tokens.</summary>
    public const string Full = "full";
    /// <summary>Supervised fine-tune of low-rank adapters; base weights frozen, merged on export.</summary>
    public const string Lora = "lora";

    public static IReadOnlyList<string> All { get; } = [Pretrain, Full, Lora];
}

/// <summary>
/// Hyperparameters of one run. JSON uses the snake_case names of the seed and of HF's TrainingArguments
/// (<c>learning_rate</c>, <c>num_epochs</c>, <c>batch_size</c>, <c>max_length</c>...); a missing key keeps its default.
/// </summary>
public sealed record TrainingConfig
{
    public string Method { get; init; } = TrainingMethods.Full;

    // ---- how long ----
    /// <summary>Passes over the training data; ignored when <see cref="MaxSteps"/> is set.</summary>
    public double NumEpochs { get; init; } = 3;
    /// <summary>Optimizer steps to run; overrides <see cref="NumEpochs"/> when positive.</summary>
    public int MaxSteps { get; init; }

    // ---- batches ----
    public int BatchSize { get; init; } = 8;
    public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>Tokens the model sees per row; longer examples are truncated. 0 = the model's context, at most 1024.</summary>
    public int MaxLength { get; init; }
    /// <summary>Pack several short examples into one row (attention between them blocked).</summary>
    public bool Packing { get; init; }
    /// <summary>Train on every token of a conversation instead of only the assistant's.</summary>
    public bool TrainOnAllTokens { get; init; }

    // ---- optimizer ----
    public double LearningRate { get; init; } = 2e-4;
    public int WarmupSteps { get; init; }
    /// <summary>cosine, linear or constant (after warmup).</summary>
    public string LrScheduler { get; init; } = "cosine";
    /// <summary>The schedule ends at learning_rate * min_lr_ratio.</summary>
    public double MinLrRatio { get; init; } = 0.1;
    /// <summary>AdamW decoupled weight decay, applied to matrices only (not norms, biases, embeddings).</summary>
    public double WeightDecay { get; init; } = 0.0;
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    public double AdamEpsilon { get; init; } = 1e-8;
    /// <summary>Clip the global gradient norm to this; 0 = no clipping (the norm is still reported).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    // ---- LoRA ----
    public int LoraR { get; init; } = 8;
    public double LoraAlpha { get; init; } = 16;
    public double LoraDropout { get; init; } = 0.05;
    /// <summary>Module names (last path segment) that get adapters; empty = the family's attention projections.</summary>
    public IReadOnlyList<string> LoraTargetModules { get; init; } = [];

    // ---- cadence ----
    public int LoggingSteps { get; init; } = 1;
    /// <summary>Evaluate on the validation split every N steps (0 = only at the end).</summary>
    public int EvalSteps { get; init; } = 100;
    /// <summary>Also evaluate before the first step (a baseline for the run).</summary>
    public bool EvalOnStart { get; init; }
    /// <summary>Write a checkpoint every N steps (0 = none except best ones).</summary>
    public int SaveSteps { get; init; } = 100;
    /// <summary>Keep this many most recent checkpoints, plus the best one.</summary>
    public int SaveTotalLimit { get; init; } = 2;
    /// <summary>Stop after this many evaluations without a lower valid_loss (0 = never).</summary>
    public int EarlyStoppingPatience { get; init; }
    /// <summary>Export the weights of the checkpoint with the lowest valid_loss instead of the last ones.</summary>
    public bool LoadBestModelAtEnd { get; init; }

    // ---- evaluation ----
    /// <summary>Validation prompts generated at each eval, shown next to their references.</summary>
    public int EvalSamples { get; init; } = 3;
    public int MaxNewTokens { get; init; } = 64;
    /// <summary>Cap on test examples scored by generation (exact match, ROUGE-L); 0 = all.</summary>
    public int MaxTestExamples { get; init; } = 200;

    // ---- machine ----
    public long Seed { get; init; } = 42;
    /// <summary>Intra-op threads for libtorch; 0 = leave as is.</summary>
    public int NumThreads { get; init; }
    /// <summary>Peak FLOP/s MFU is measured against; 0 = estimate from the CPU.</summary>
    public double PeakFlops { get; init; }

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads a config file; an unknown key or a wrong type is a <see cref="TrainingConfigException"/> naming it.</summary>
    public static TrainingConfig FromJson(string json, string source = "config")
    {
        try
        {
            return JsonSerializer.Deserialize<TrainingConfig>(json, JsonOptions) ?? throw new TrainingConfigException($"{source}: is null, a JSON object is expected.");
        }
        catch (JsonException e)
        {
            throw new TrainingConfigException($"{source}: {e.Message}", e);
        }
    }

    public bool IsLora => Method == TrainingMethods.Lora;
    public bool IsPretrain => Method == TrainingMethods.Pretrain;

    /// <summary>Rejects values no run could use, naming the field.</summary>
    public void Validate()
    {
        void Check(bool ok, string field, string what)
        {
            if (!ok) throw new TrainingConfigException($"{field} {what}.", field: field);
        }
        Check(TrainingMethods.All.Contains(Method), "method", $"'{Method}' is not one of {string.Join(", ", TrainingMethods.All)}");
        Check(MaxSteps > 0 || NumEpochs > 0, "num_epochs", "must be > 0 when max_steps is not set");
        Check(MaxSteps >= 0, "max_steps", "must be >= 0");
        Check(BatchSize > 0, "batch_size", "must be > 0");
        Check(GradientAccumulationSteps > 0, "gradient_accumulation_steps", "must be > 0");
        Check(MaxLength is 0 or >= 2, "max_length", "must be >= 2 (or 0 for the model's context)");
        Check(LearningRate > 0 && double.IsFinite(LearningRate), "learning_rate", "must be a positive number");
        Check(WarmupSteps >= 0, "warmup_steps", "must be >= 0");
        Check(LrScheduler is "cosine" or "linear" or "constant", "lr_scheduler", $"'{LrScheduler}' is not one of cosine, linear, constant");
        Check(MinLrRatio is >= 0 and <= 1, "min_lr_ratio", "must be in [0, 1]");
        Check(WeightDecay >= 0, "weight_decay", "must be >= 0");
        Check(MaxGradNorm >= 0, "max_grad_norm", "must be >= 0");
        Check(LoraR > 0, "lora_r", "must be > 0");
        Check(LoraAlpha > 0, "lora_alpha", "must be > 0");
        Check(LoraDropout is >= 0 and < 1, "lora_dropout", "must be in [0, 1)");
        Check(LoggingSteps > 0, "logging_steps", "must be > 0");
        Check(EvalSteps >= 0, "eval_steps", "must be >= 0");
        Check(SaveSteps >= 0, "save_steps", "must be >= 0");
        Check(SaveTotalLimit >= 1, "save_total_limit", "must be >= 1");
        Check(EarlyStoppingPatience >= 0, "early_stopping_patience", "must be >= 0");
        Check(EvalSamples >= 0, "eval_samples", "must be >= 0");
        Check(MaxNewTokens > 0, "max_new_tokens", "must be > 0");
        Check(NumThreads >= 0, "num_threads", "must be >= 0");
        Check(PeakFlops >= 0, "peak_flops", "must be >= 0");
    }
}

/// <summary>
/// Everything a run needs, as the trainer worker hands it to a child process (JSON): where the model and
/// data are, where to write, and the hyperparameters.
/// </summary>
public sealed record TrainingSpec
{
    /// <summary>An HF model folder, or <c>starter:&lt;architecture&gt;-&lt;preset&gt;</c> (e.g. <c>starter:llama-tiny</c>) for a fresh starter model.</summary>
    public required string Model { get; init; }
    public required string TrainFile { get; init; }
    public string? ValidationFile { get; init; }
    /// <summary>Scored at the end with generated answers: exact match and ROUGE-L.</summary>
    public string? TestFile { get; init; }
    /// <summary>Receives metrics.jsonl, checkpoint-N folders and the final HF folder <c>final/</c>.</summary>
    public required string OutputDir { get; init; }
    public TrainingConfig Config { get; init; } = new();
    /// <summary>Continue from the latest complete checkpoint in <see cref="OutputDir"/> (a fresh start when there is none).</summary>
    public bool Resume { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, TrainingConfig.JsonOptions);
    public static TrainingSpec FromJson(string json) =>
        JsonSerializer.Deserialize<TrainingSpec>(json, TrainingConfig.JsonOptions) ?? throw new TrainingConfigException("The training spec is null.");
}

/// <summary>A hyperparameter no run can use; the message names the field, and <see cref="Field"/> holds it when one field is at fault.</summary>
public sealed class TrainingConfigException(string message, Exception? inner = null, string? field = null) : Exception(message, inner)
{
    /// <summary>The snake_case key at fault (<c>learning_rate</c>), or null when the problem is not one field's.</summary>
    public string? Field { get; } = field;
}
