using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Assistant.Trainer;

/// <summary>
/// The worker's traces (one per job run: queue wait, prepare, evals, checkpoint uploads, finish) and metrics.
/// Exported by ServiceDefaults, which adds every <c>Assistant.*</c> source and meter.
/// </summary>
public static class TrainerTelemetry
{
    public const string Name = "Assistant.Trainer";

    public static readonly ActivitySource Source = new(Name);
    public static readonly Meter Meter = new(Name);

    public static readonly Gauge<double> TrainLoss = Meter.CreateGauge<double>("assistant.trainer.train_loss", description: "Training loss of the latest logged step.");
    public static readonly Histogram<double> TokensPerSecond = Meter.CreateHistogram<double>("assistant.trainer.tokens_per_second", "{token}/s", "Training throughput per logged step.");
    public static readonly Histogram<double> StepTime = Meter.CreateHistogram<double>("assistant.trainer.step_time", "ms", "Wall time of one optimizer step.");
    public static readonly Counter<long> JobsFinished = Meter.CreateCounter<long>("assistant.trainer.jobs_finished", "{job}", "Job runs this worker ended, by outcome.");
    public static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("assistant.trainer.queue_wait", "s", "Time from queued to claimed by a worker.");
}
