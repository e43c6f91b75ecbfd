using Assistant.Tokenization;
using TorchSharp;

namespace Assistant.Modeling.Training;

/// <summary>
/// The engine behind <c>assistant train</c> and the trainer worker's child process: checks the spec and
/// the data (bad input stops here, before any training, with the line at fault), loads the model and
/// tokenizer, runs the <see cref="Trainer"/>, and frees everything when done, cancelled or failed.
/// </summary>
public static class TrainingRun
{
    public const string MetricsFile = "metrics.jsonl";
    public const string FinalFolder = "final";
    public const string AdapterFolder = "adapter";
    public const string StarterPrefix = "starter:";

    /// <summary>
    /// Runs <paramref name="spec"/> to the end. Progress is reported synchronously on the calling thread.
    /// Throws <see cref="TrainingDataException"/> / <see cref="TrainingConfigException"/> / <see cref="ModelFormatException"/>
    /// for bad input before training starts; NaN loss and cancellation come back as a <see cref="TrainingResult"/>.
    /// </summary>
    public static TrainingResult Execute(TrainingSpec spec, IProgress<TrainingEvent>? progress = null, CancellationToken ct = default, TrainingHooks? hooks = null)
    {
        var config = spec.Config;
        config.Validate();
        var requireAssistant = !config.IsPretrain && !config.TrainOnAllTokens;
        var trainExamples = TrainingData.Read(spec.TrainFile, requireAssistant);
        var validExamples = spec.ValidationFile is null ? [] : TrainingData.Read(spec.ValidationFile, requireAssistant);
        var testExamples = spec.TestFile is null ? [] : TrainingData.Read(spec.TestFile, requireAssistant);
        if (config.NumThreads > 0) torch.set_num_threads(config.NumThreads);

        var modelFolder = ResolveModel(spec.Model, spec.OutputDir, config.Seed);
        TextTokenizer tokenizer;
        ChatTemplate template;
        try
        {
            tokenizer = TokenizerLoader.FromModelFolder(modelFolder);
            template = ChatTemplate.FromModelFolder(modelFolder);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or FormatException or System.Text.Json.JsonException or NotSupportedException)
        {
            throw new ModelFormatException($"The tokenizer of '{modelFolder}' cannot be loaded: {e.Message}", e);
        }

        var modelConfig = ModelConfig.Load(modelFolder);
        if (tokenizer.VocabSize > modelConfig.VocabSize)
            throw new ModelFormatException($"The tokenizer of '{modelFolder}' has {tokenizer.VocabSize} ids but the model only {modelConfig.VocabSize} embeddings.");
        if (config.MaxLength == 0) config = config with { MaxLength = Math.Min(1024, modelConfig.MaxPositions) };
        if (config.MaxLength > modelConfig.MaxPositions)
            throw new TrainingConfigException($"max_length {config.MaxLength} exceeds the model's context of {modelConfig.MaxPositions} tokens.", field: "max_length");

        var encoder = new SequenceEncoder(tokenizer, template, config.MaxLength, config.TrainOnAllTokens);
        var padId = tokenizer.Special.Pad?.Id ?? modelConfig.PadTokenId ?? tokenizer.Special.Eos?.Id ?? 0;
        var trainSequences = config.IsPretrain ? encoder.EncodeStream(trainExamples) : encoder.EncodeExamples(trainExamples, out _);
        if (trainSequences.Sum(s => s.LossTokens) == 0)
            throw new TrainingDataException($"{spec.TrainFile}: no token carries loss after templating and truncation to max_length {config.MaxLength}.");
        var train = new BatchSchedule(trainSequences, config.BatchSize, config.MaxLength, config.Packing, padId, config.Seed, shuffle: true);
        BatchSchedule? Split(IReadOnlyList<TrainingExample> examples) => examples.Count == 0 ? null
            : new BatchSchedule(config.IsPretrain ? encoder.EncodeStream(examples) : encoder.EncodeExamples(examples, out _), config.BatchSize, config.MaxLength, packing: false, padId, config.Seed, shuffle: false);
        var valid = Split(validExamples);
        var test = Split(testExamples);

        var model = HfCheckpoint.Load(modelFolder);
        using var trainer = new Trainer(model, encoder, train, valid, validExamples, test, testExamples, config, spec.OutputDir, hooks);
        return trainer.Run(progress, spec.Resume, ct);
    }

    /// <summary>An HF folder as given, or a <c>starter:llama-tiny</c> model created (once, deterministically) in <c>OUT/base</c>.</summary>
    public static string ResolveModel(string model, string outputDir, long seed)
    {
        if (!model.StartsWith(StarterPrefix, StringComparison.Ordinal))
        {
            if (!Directory.Exists(model)) throw new ModelFormatException($"Model folder '{model}' does not exist.");
            return model;
        }
        var name = model[StarterPrefix.Length..];
        var dash = name.IndexOf('-');
        if (dash <= 0) throw new TrainingConfigException($"'{model}' is not starter:<architecture>-<preset> (e.g. starter:llama-tiny).");
        var folder = Path.Combine(outputDir, "base");
        if (!File.Exists(Path.Combine(folder, HfCheckpoint.ConfigFile)))
        {
            try { ModelPresets.Create(name[..dash], name[(dash + 1)..], seed, folder, TokenizerLoader.WriteStarterTokenizer); }
            catch (ArgumentException e) { throw new TrainingConfigException(e.Message, e); }
        }
        return folder;
    }

    /// <summary>
    /// Scores a model folder on a data file the way a run's final test does (loss, exact match, ROUGE-L),
    /// e.g. a model before fine-tuning, to compare with the run's <see cref="TestMetrics"/>.
    /// </summary>
    public static TestMetrics Score(string modelFolder, string dataFile, TrainingConfig config)
    {
        var tokenizer = TokenizerLoader.FromModelFolder(modelFolder);
        var template = ChatTemplate.FromModelFolder(modelFolder);
        var context = ModelConfig.Load(modelFolder).MaxPositions;
        config = config with { MaxLength = config.MaxLength == 0 ? Math.Min(1024, context) : Math.Min(config.MaxLength, context) };
        var examples = TrainingData.Read(dataFile, requireAssistant: !config.IsPretrain);
        var encoder = new SequenceEncoder(tokenizer, template, config.MaxLength, config.TrainOnAllTokens);
        using var model = HfCheckpoint.Load(modelFolder);
        var padId = tokenizer.Special.Pad?.Id ?? model.Config.PadTokenId ?? 0;
        var batches = new BatchSchedule(config.IsPretrain ? encoder.EncodeStream(examples) : encoder.EncodeExamples(examples, out _), config.BatchSize, config.MaxLength, false, padId, config.Seed, false);
        var (loss, accuracy, _) = Evaluator.Loss(model, batches);
        var scored = config.MaxTestExamples > 0 ? examples.Take(config.MaxTestExamples).ToList() : examples.ToList();
        var samples = Evaluator.Generate(model, encoder, scored, config.MaxNewTokens);
        return new TestMetrics
        {
            Step = 0, TestLoss = loss, TestPerplexity = Math.Exp(loss), TestMeanTokenAccuracy = accuracy,
            ExactMatch = samples.Average(s => TextScores.ExactMatch(s.Generated, s.Reference)),
            RougeL = samples.Average(s => TextScores.RougeL(s.Generated, s.Reference)),
            Examples = samples.Count, Samples = samples,
        };
    }
}
