namespace Assistant.Modeling.Training;

/// <summary>Linear warmup to the peak, then cosine or linear decay to peak * min_lr_ratio (or constant).</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, string Kind, double MinLrRatio)
{
    public static LearningRateSchedule From(TrainingConfig config, int totalSteps) =>
        new(config.LearningRate, config.WarmupSteps, totalSteps, config.LrScheduler, config.MinLrRatio);

    /// <summary>The rate for optimizer step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (Kind == "constant") return Peak;
        var min = Peak * MinLrRatio;
        var span = Math.Max(1, TotalSteps - WarmupSteps);
        var progress = Math.Clamp((double)(step - WarmupSteps) / span, 0, 1);
        return Kind == "linear"
            ? Peak - (Peak - min) * progress
            : min + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (Peak - min);
    }
}
