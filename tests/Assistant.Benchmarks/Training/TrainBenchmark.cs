using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Assistant.Modeling;
using Assistant.Modeling.Training;
using Assistant.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Benchmarks.Training;

/// <summary>
/// Training throughput on the reference config (Llama d=384, 6 layers, 6 heads, ctx 256, batch 8, byte
/// vocabulary, fp32, 2 threads): the full <c>train</c> path (TrainingRun with per-step logging to
/// metrics.jsonl and checkpoints) against a bare forward/backward/step loop on the same model and
/// batches, in the same process, interleaved. Reports tokens/s, MFU against the CPU's fp32 peak, the
/// platform's overhead and peak memory.
/// </summary>
public sealed class TrainBenchmark : IBenchmark
{
    public string Name => "train";

    public string Description => "training tok/s and MFU: full train path (logging + checkpoints) vs a bare loop; overhead and peak memory";

    public Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var options = new Dictionary<string, double> { ["--steps"] = 20, ["--warmup"] = 3, ["--repeats"] = 2, ["--threads"] = 2, ["--save-steps"] = 10, ["--peak-gflops"] = 156.5 };
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length || !options.ContainsKey(args[i]) || !double.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value < 0)
            {
                Console.Error.WriteLine("usage: train [--steps 20] [--warmup 3] [--repeats 2] [--threads 2] [--save-steps 10] [--peak-gflops 156.5]");
                return Task.FromResult(2);
            }
            options[args[i]] = value;
        }
        MachineInfo.PreferPassiveOpenMpWaits(); // before libtorch loads
        torch.set_num_threads((int)options["--threads"]);
        var folder = Directory.CreateTempSubdirectory("assistant-train-bench-").FullName;
        try
        {
            Run((int)options["--steps"], (int)options["--warmup"], (int)options["--repeats"], (int)options["--save-steps"], options["--peak-gflops"] * 1e9, folder, ct);
            return Task.FromResult(0);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static void Run(int steps, int warmup, int repeats, int saveSteps, double peak, string folder, CancellationToken ct)
    {
        var modelFolder = ReferenceModel(Path.Combine(folder, "model"));
        var data = TextFile(Path.Combine(folder, "text.jsonl"));
        var config = new TrainingConfig
        {
            Method = TrainingMethods.Pretrain, MaxSteps = steps, BatchSize = 8, MaxLength = 256, LearningRate = 1e-3, WarmupSteps = 5,
            WeightDecay = 0.1, LoggingSteps = 1, SaveSteps = saveSteps, SaveTotalLimit = 2, EvalSteps = 0, PeakFlops = peak, Seed = 1,
        };
        double flopsPerToken;
        using (var probe = HfCheckpoint.Load(modelFolder)) flopsPerToken = probe.FlopsPerToken(config.MaxLength);
        Console.WriteLine(Invariant($"train: llama d=384, 6 layers, 6 heads, ctx 256, batch 8, byte vocab, fp32, {torch.get_num_threads()} threads; {steps} steps per run ({warmup} untimed), checkpoint every {saveSteps} steps; {flopsPerToken / 1e6:F1} MFLOP/token; peak {peak / 1e9:F1} GFLOP/s"));

        var bare = new List<Measurement>();
        var full = new List<Measurement>();
        double maxRss = 0;
        for (var r = 0; r < repeats; r++)
        {
            ct.ThrowIfCancellationRequested();
            bare.Add(BareLoop(modelFolder, data, config, warmup, ct));
            var (measurement, rss) = FullPath(modelFolder, data, Path.Combine(folder, $"out-{r}"), config, warmup, ct);
            full.Add(measurement);
            maxRss = Math.Max(maxRss, rss);
            Console.WriteLine(Invariant($"  run {r + 1}: bare {bare[^1].WallRate,6:F0} tok/s wall, {bare[^1].BestStepRate,6:F0} best step, {bare[^1].CpuRate,6:F0} per CPU-time | train {full[^1].WallRate,6:F0} wall, {full[^1].BestStepRate,6:F0} best step, {full[^1].CpuRate,6:F0} per CPU-time, {full[^1].OutsideSteps:P1} of wall outside steps"));
        }
        Console.WriteLine();
        Console.WriteLine("| path (medians over runs)               | wall tok/s | MFU   | best-step tok/s | MFU   | CPU-time tok/s | MFU   |");
        Console.WriteLine("|----------------------------------------|-----------:|------:|----------------:|------:|---------------:|------:|");
        foreach (var (name, runs) in new[] { ("bare forward/backward/AdamW step", bare), ("train (logging, metrics.jsonl, ckpts)", full) })
        {
            var (w, s, c) = (Median(runs.Select(m => m.WallRate)), Median(runs.Select(m => m.BestStepRate)), Median(runs.Select(m => m.CpuRate)));
            Console.WriteLine(Invariant($"| {name,-38} | {w,10:F0} | {Mfu(w),5:P0} | {s,15:F0} | {Mfu(s),5:P0} | {c,14:F0} | {Mfu(c),5:P0} |"));
        }
        Console.WriteLine();
        double Overhead(Func<Measurement, double> rate) => Median(bare.Zip(full, (b, f) => 1 - rate(f) / rate(b)));
        Console.WriteLine(Invariant($"platform overhead (median of paired runs): wall {Overhead(m => m.WallRate):P1}, best step {Overhead(m => m.BestStepRate):P1}, CPU time {Overhead(m => m.CpuRate):P1}; train wall time outside steps (logging + checkpoints): {Median(full.Select(m => m.OutsideSteps)):P1}   (target < 5%)"));
        Console.WriteLine(Invariant($"MFU of the train path: wall {Mfu(Median(full.Select(m => m.WallRate))):P1}, best step {Mfu(Median(full.Select(m => m.BestStepRate))):P1}, CPU time {Mfu(Median(full.Select(m => m.CpuRate))):P1} of {peak / 1e9:F1} GFLOP/s   (target >= 50%)"));
        Console.WriteLine(Invariant($"peak memory (VmHWM, whole process): {MachineInfo.PeakResidentMb():F0} MiB; largest RSS reported by a train step: {maxRss:F0} MiB"));
        Console.WriteLine("(CPU-time tok/s = tokens / (process CPU seconds / threads): what the cores deliver while this process runs, less sensitive to other processes.)");

        double Mfu(double tokensPerSecond) => flopsPerToken * tokensPerSecond / peak;
    }

    /// <summary>Tokens/s of one run three ways: over wall time, of its fastest step, and per CPU-second per thread.</summary>
    sealed record Measurement(double WallRate, double BestStepRate, double CpuRate, double OutsideSteps);

    static double CpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    /// <summary>nanoGPT's loop on the same batches: forward, mean cross-entropy, backward, clip, AdamW step.</summary>
    static Measurement BareLoop(string modelFolder, string data, TrainingConfig config, int warmup, CancellationToken ct)
    {
        using var model = HfCheckpoint.Load(modelFolder);
        model.train();
        var encoder = new SequenceEncoder(TokenizerLoader.FromModelFolder(modelFolder), ChatTemplate.ChatML, config.MaxLength, false);
        var batches = new BatchSchedule(encoder.EncodeStream(TrainingData.Read(data, false)), config.BatchSize, config.MaxLength, false, StarterVocabulary.Pad, config.Seed, true);
        using var optimizer = Optimization.CreateAdamW(model, config);
        var parameters = model.parameters().ToList();
        var clock = new Stopwatch();
        var cpuStart = 0.0;
        long tokens = 0;
        var best = double.MaxValue;
        for (var step = 0; step < config.MaxSteps; step++)
        {
            ct.ThrowIfCancellationRequested();
            if (step == warmup) { clock.Start(); cpuStart = CpuSeconds(); }
            var stepClock = Stopwatch.StartNew();
            var batch = batches.Get(step);
            using (NewDisposeScope())
            {
                var (ids, targets, _, _) = batch.ToTensors(CPU);
                var logits = model.forward(ids);
                var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), targets.view(-1), ignore_index: Batch.IgnoreIndex);
                loss.backward();
                nn.utils.clip_grad_norm_(parameters, 1.0);
                optimizer.step();
                optimizer.zero_grad();
                _ = loss.item<float>();
            }
            if (step >= warmup)
            {
                tokens += batch.RealTokens;
                best = Math.Min(best, stepClock.Elapsed.TotalSeconds / batch.RealTokens);
            }
        }
        var cpu = CpuSeconds() - cpuStart;
        return new Measurement(tokens / clock.Elapsed.TotalSeconds, 1 / best, tokens / (cpu / torch.get_num_threads()), 0);
    }

    /// <summary>TrainingRun end to end; timed from the start of step <paramref name="warmup"/> to the end of the last step's logging and checkpoint.</summary>
    static (Measurement Measurement, double MaxRss) FullPath(string modelFolder, string data, string output, TrainingConfig config, int warmup, CancellationToken ct)
    {
        var clock = new Stopwatch();
        var (cpuStart, cpuEnd) = (0.0, 0.0);
        long tokens = 0;
        double maxRss = 0, stepSeconds = 0, best = double.MaxValue;
        var last = TimeSpan.Zero;
        var hooks = new TrainingHooks { BeforeStep = (step, _) => { if (step == warmup) { clock.Start(); cpuStart = CpuSeconds(); } } };
        var progress = new Progress(e =>
        {
            if (e is StepMetrics s)
            {
                if (s.Step > warmup)
                {
                    var stepTokens = s.TokensPerSecond * s.StepTimeMs / 1000;
                    tokens += (long)Math.Round(stepTokens);
                    stepSeconds += s.StepTimeMs / 1000;
                    best = Math.Min(best, s.StepTimeMs / 1000 / stepTokens);
                }
                maxRss = Math.Max(maxRss, s.MemoryMb);
            }
            if (e is StepMetrics or CheckpointSaved && e.Step == config.MaxSteps) { last = clock.Elapsed; cpuEnd = CpuSeconds(); }
        });
        var result = TrainingRun.Execute(new TrainingSpec { Model = modelFolder, TrainFile = data, OutputDir = output, Config = config }, progress, ct, hooks);
        if (result.Status != TrainingStatus.Succeeded) throw new InvalidOperationException($"train run ended {result.Status}: {result.Error}");
        var wall = last.TotalSeconds;
        return (new Measurement(tokens / wall, 1 / best, tokens / ((cpuEnd - cpuStart) / torch.get_num_threads()), 1 - stepSeconds / wall), maxRss);
    }

    sealed class Progress(Action<TrainingEvent> report) : IProgress<TrainingEvent>
    {
        public void Report(TrainingEvent value) => report(value);
    }

    /// <summary>The reference model: Llama d=384, 6 layers, 6 heads (no GQA), SwiGLU 1024, ctx 256, tied byte vocabulary.</summary>
    static string ReferenceModel(string folder)
    {
        var json = new JsonObject
        {
            ["model_type"] = "llama", ["vocab_size"] = StarterVocabulary.Size, ["hidden_size"] = 384, ["intermediate_size"] = 1024,
            ["num_hidden_layers"] = 6, ["num_attention_heads"] = 6, ["num_key_value_heads"] = 6, ["max_position_embeddings"] = 256,
            ["rms_norm_eps"] = 1e-5, ["tie_word_embeddings"] = true, ["eos_token_id"] = StarterVocabulary.Eos, ["pad_token_id"] = StarterVocabulary.Pad,
        };
        using var model = HfCheckpoint.CreateUntrained(ModelConfig.Parse(json));
        using (var generator = new torch.Generator(1234)) model.InitializeWeights(generator);
        HfCheckpoint.Save(model, folder, new HfSaveOptions { WriteExtraFiles = TokenizerLoader.WriteStarterTokenizer });
        return folder;
    }

    /// <summary>About 400 KB of word salad from a fixed seed: enough that no batch repeats within a run.</summary>
    static string TextFile(string path)
    {
        string[] words = ["the", "light", "harbour", "keeper", "stone", "wind", "sea", "boat", "night", "town", "winter", "bread", "glass", "storm", "clock", "stairs", "garden", "ship", "bell", "fog"];
        var state = 12345UL;
        var lines = new List<string>();
        for (var line = 0; line < 800; line++)
        {
            var sentence = new List<string>();
            for (var w = 0; w < 90; w++)
            {
                state = state * 6364136223846793005UL + 1442695040888963407UL;
                sentence.Add(words[(int)(state >> 59) % words.Length]);
            }
            lines.Add(new JsonObject { ["text"] = string.Join(' ', sentence) + "." }.ToJsonString());
        }
        File.WriteAllLines(path, lines);
        return path;
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
