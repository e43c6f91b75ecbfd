using System.Text.Json;
using System.Text.Json.Serialization;

namespace Assistant.Modeling.Training;

/// <summary>
/// What a run reports as it goes, in order, on the training thread. <see cref="StepMetrics"/>,
/// <see cref="EvalMetrics"/> and <see cref="TestMetrics"/> are also the lines of <c>metrics.jsonl</c>;
/// serialized with <see cref="JsonOptions"/> each carries a <c>type</c> (train, eval, test, checkpoint, status).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(StepMetrics), "train")]
[JsonDerivedType(typeof(EvalMetrics), "eval")]
[JsonDerivedType(typeof(TestMetrics), "test")]
[JsonDerivedType(typeof(CheckpointSaved), "checkpoint")]
[JsonDerivedType(typeof(StatusMessage), "status")]
public abstract record TrainingEvent
{
    /// <summary>Optimizer steps completed when the event happened.</summary>
    public required int Step { get; init; }

    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
    public static TrainingEvent? FromJson(string json) => JsonSerializer.Deserialize<TrainingEvent>(json, JsonOptions);
}

/// <summary>One logged optimizer step (averages over the micro-batches of that step).</summary>
public sealed record StepMetrics : TrainingEvent
{
    public required int TotalSteps { get; init; }
    public required double Epoch { get; init; }
    public required double TrainLoss { get; init; }
    public required double TrainMeanTokenAccuracy { get; init; }
    public required double LearningRate { get; init; }
    public required double GradNorm { get; init; }
    /// <summary>Real (non-padding) tokens per second of wall time for this step.</summary>
    public required double TokensPerSecond { get; init; }
    /// <summary>Model FLOPs (6N + attention per token) per second over the machine's peak.</summary>
    public required double Mfu { get; init; }
    public required double StepTimeMs { get; init; }
    /// <summary>Resident memory of the process, MiB.</summary>
    public required double MemoryMb { get; init; }
    /// <summary>Tokens that carried loss in this step.</summary>
    public required long LossTokens { get; init; }
}

/// <summary>A generated answer next to the reference, for a validation or test prompt.</summary>
public sealed record GenerationSample(string Prompt, string Reference, string Generated);

/// <summary>An evaluation on the validation split.</summary>
public sealed record EvalMetrics : TrainingEvent
{
    public required double Epoch { get; init; }
    public required double ValidLoss { get; init; }
    public required double Perplexity { get; init; }
    public required double ValidMeanTokenAccuracy { get; init; }
    public IReadOnlyList<GenerationSample> Samples { get; init; } = [];
}

/// <summary>The final evaluation on the test split: loss plus task scores of generated answers.</summary>
public sealed record TestMetrics : TrainingEvent
{
    public required double TestLoss { get; init; }
    public required double TestPerplexity { get; init; }
    public required double TestMeanTokenAccuracy { get; init; }
    /// <summary>Share of answers equal to the reference (case and whitespace ignored).</summary>
    public required double ExactMatch { get; init; }
    /// <summary>Mean ROUGE-L F1 of answers against references.</summary>
    public required double RougeL { get; init; }
    public required int Examples { get; init; }
    public IReadOnlyList<GenerationSample> Samples { get; init; } = [];
}

public sealed record CheckpointSaved : TrainingEvent
{
    public required string Path { get; init; }
    public bool IsBest { get; init; }
}

/// <summary>A line for humans: start, resume, early stop, export.</summary>
public sealed record StatusMessage : TrainingEvent
{
    public required string Message { get; init; }
}

public enum TrainingStatus { Succeeded, Failed, Cancelled }

/// <summary>Why a run failed; codes follow OpenAI's fine-tuning errors where one fits (<c>nan_loss</c>).</summary>
public sealed record TrainingError(string Code, string Message);

/// <summary>How a run ended and what it left behind.</summary>
public sealed record TrainingResult
{
    public required TrainingStatus Status { get; init; }
    public required int Steps { get; init; }
    public TrainingError? Error { get; init; }
    /// <summary>The exported HF folder (<c>final/</c>), when the run succeeded.</summary>
    public string? FinalModelPath { get; init; }
    public string? LastCheckpoint { get; init; }
    public string? BestCheckpoint { get; init; }
    public double? BestValidLoss { get; init; }
    public EvalMetrics? LastEval { get; init; }
    public TestMetrics? Test { get; init; }
    /// <summary>max_steps, epochs, early_stopping, nan_loss or cancelled.</summary>
    public required string StopReason { get; init; }
}
