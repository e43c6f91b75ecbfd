using System.Diagnostics;
using System.Diagnostics.Metrics;
using Assistant.Inference.Serving;

namespace Assistant.Inference;

/// <summary>
/// The <c>Assistant.Inference</c> meter and activity source: what the dashboards and <c>/metrics</c> show about serving.
/// Token latencies are recorded by the engines as tokens leave them; gauges read the model host when collected.
/// </summary>
internal sealed class InferenceTelemetry
{
    public const string Name = "Assistant.Inference";
    public static readonly ActivitySource Activity = new(Name);

    // Seconds: from a few milliseconds per token on small models to tens of seconds to the first token under load.
    static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    readonly Meter meter;

    public InferenceTelemetry(IMeterFactory meters)
    {
        meter = meters.Create(Name);
        TimeToFirstToken = meter.CreateHistogram("assistant.inference.time_to_first_token", "s",
            "From a request's arrival at its model to its first generated token (queueing and prompt prefill included).",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        InterTokenLatency = meter.CreateHistogram("assistant.inference.inter_token_latency", "s",
            "Between two generated tokens of one request.", advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        GeneratedTokens = meter.CreateCounter<long>("assistant.inference.tokens.generated", "{token}", "Tokens sampled, stop tokens included.");
        PromptTokens = meter.CreateCounter<long>("assistant.inference.tokens.prompt", "{token}", "Prompt tokens prefilled.");
        Requests = meter.CreateCounter<long>("assistant.inference.requests", "{request}",
            "Generation requests by outcome: stop, length, cancelled, rejected (queue full), invalid, unavailable (nothing deployed), error.");
    }

    public Histogram<double> TimeToFirstToken { get; }
    public Histogram<double> InterTokenLatency { get; }
    public Counter<long> GeneratedTokens { get; }
    public Counter<long> PromptTokens { get; }
    public Counter<long> Requests { get; }

    /// <summary>Gauges of what <paramref name="host"/> serves (and the on-demand versions, once observed), read when metrics are collected.</summary>
    public void Observe(ModelHost host)
    {
        IEnumerable<ServedModel> All() => host.Served.Concat(onDemand());
        meter.CreateObservableGauge("assistant.inference.requests.running", () => All().Select(m => Measure(m, m.Engine.Running)),
            "{request}", "Requests holding a decode slot.");
        meter.CreateObservableGauge("assistant.inference.requests.waiting", () => All().Select(m => Measure(m, m.Engine.Waiting)),
            "{request}", "Requests queued for a decode slot.");
        meter.CreateObservableGauge("assistant.inference.model.info", () => host.Served.Select(m => Measure(m, 1)),
            null, "1 for every model version this replica serves for its alias.");
        meter.CreateObservableGauge("assistant.inference.model.on_demand", () => onDemand().Select(m => Measure(m, 1)),
            null, "1 for every model version this replica has loaded on demand.");
    }

    Func<IEnumerable<ServedModel>> onDemand = () => [];

    /// <summary>Adds the versions loaded on demand to the gauges.</summary>
    public void ObserveOnDemand(Func<IEnumerable<ServedModel>> loaded) => onDemand = loaded;

    static Measurement<int> Measure(ServedModel model, int value) => new(value, model.Tags);

    /// <summary>Counts a finished (or refused) request; <paramref name="modelTags"/> is null when no model was chosen.</summary>
    public void Outcome(string outcome, KeyValuePair<string, object?>[]? modelTags)
    {
        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        if (modelTags is null) Requests.Add(1, tag);
        else Requests.Add(1, tag, modelTags[0], modelTags[1]);
    }
}
