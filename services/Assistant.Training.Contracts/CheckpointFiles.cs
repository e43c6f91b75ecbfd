namespace Assistant.Modeling.Training;

/// <summary>
/// The files a training checkpoint holds besides the model itself (weights, config, tokenizer): what resuming needs and
/// serving does not. Written by the trainer's <c>CheckpointStore</c>; left out when a checkpoint is registered as a model.
/// </summary>
public static class CheckpointFiles
{
    public const string CompleteMarker = "complete";
    public const string TrainerState = "trainer_state.json";
    public const string TrainingConfig = "training_config.json";
    public const string Optimizer = "optimizer.bin";
    public const string Rng = "rng_state.bin";

    /// <summary>Every file of a checkpoint that is training state, not model.</summary>
    public static readonly IReadOnlySet<string> TrainingState = new HashSet<string>(StringComparer.Ordinal)
    {
        CompleteMarker, TrainerState, TrainingConfig, Optimizer, Rng,
    };
}
