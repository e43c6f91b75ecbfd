using System.Diagnostics;
using System.Globalization;
using Assistant.Modeling;
using Assistant.Modeling.Export;

namespace Assistant.Benchmarks.Decode;

/// <summary>
/// Greedy decode speed on one set of random weights (the llama <c>small</c> starter: d=384, 6 layers,
/// 6 heads / 2 K/V heads, byte vocabulary): our single stream (the <see cref="LlamaDecoder"/> fast path, and the TorchSharp
/// forward with the KV cache for the record), llama.cpp on the same
/// weights exported to GGUF F32 (flash attention off, F32 KV cache, same thread count), and our batched
/// throughput for 8 prompts in one decode loop (the <see cref="LlamaDecoder"/> batch fast path, and the TorchSharp
/// forward with left padding for the record). Each is run several times, interleaved; medians are reported.
/// </summary>
public sealed class DecodeBenchmark : IBenchmark
{
    public string Name => "decode";

    public string Description => "greedy decode tok/s: ours (fast path and torch path) vs llama.cpp on the same weights, and ours 8-way batched (fast and torch path)";

    public Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var options = DecodeOptions.Parse(args);
        if (options is null)
        {
            Console.Error.WriteLine("usage: decode [--tokens 128] [--prompt 16] [--batch 8] [--repeats 5] [--threads 1]");
            return Task.FromResult(2);
        }

        TorchSharp.torch.set_num_threads(options.Threads);
        var folder = Directory.CreateTempSubdirectory("assistant-decode-").FullName;
        try
        {
            Run(options, folder, ct);
            return Task.FromResult(0);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    static void Run(DecodeOptions options, string folder, CancellationToken ct)
    {
        var modelFolder = ModelPresets.Create("llama", "small", seed: 1234, Path.Combine(folder, "model"));
        var gguf = ModelExport.Export(modelFolder, ExportFormat.Gguf, Path.Combine(folder, "model-f32.gguf")).Path;
        using var model = HfCheckpoint.Load(modelFolder);
        var generator = new TokenGenerator(model);
        var torchPath = new TokenGenerator(model) { FastSingleStream = false };
        using var llama = new LlamaCppDecoder(gguf, options.Threads, contextSize: (uint)(options.PromptLength + options.Tokens + 16));

        var prompts = Enumerable.Range(0, options.Batch).Select(i => Prompt(options.PromptLength, salt: i)).ToArray();
        var greedy = SamplingOptions.Greedy(options.Tokens) with { StopTokenIds = [] };

        Console.WriteLine($"decode: llama small (d={model.Config.HiddenSize}, {model.Config.NumLayers} layers, {model.Config.NumHeads} heads / {model.Config.NumKeyValueHeads} kv, " +
                          $"vocab {model.Config.VocabSize}, {model.ParameterCount / 1e6:F1}M params), prompt {options.PromptLength}, {options.Tokens} new tokens, " +
                          $"{options.Threads} thread(s), {options.Repeats} repeats, batch {options.Batch}");

        // Warm-up (allocator, OpenMP pools, llama.cpp graph) and a correctness check: same weights, same greedy tokens.
        var ours = generator.Generate(prompts[0], greedy).TokenIds;
        var theirs = llama.Greedy(prompts[0], options.Tokens, out _);
        var agree = ours.Zip(theirs).TakeWhile(p => p.First == p.Second).Count();
        Console.WriteLine($"greedy tokens agree with llama.cpp: {agree}/{options.Tokens}");
        var torchTokens = torchPath.Generate(prompts[0], greedy).TokenIds;
        Console.WriteLine($"greedy tokens agree, fast path vs torch path: {ours.Zip(torchTokens).TakeWhile(p => p.First == p.Second).Count()}/{options.Tokens}");
        var batchTokens = generator.GenerateBatch(prompts, greedy);
        var torchBatchTokens = torchPath.GenerateBatch(prompts, greedy);
        Console.WriteLine($"greedy tokens agree, batched fast path vs batched torch path: {batchTokens.Zip(torchBatchTokens).Sum(p => p.First.TokenIds.Zip(p.Second.TokenIds).TakeWhile(q => q.First == q.Second).Count())}/{options.Tokens * prompts.Length}");

        var single = new List<double>();
        var torchSingle = new List<double>();
        var reference = new List<double>();
        var batched = new List<double>();
        var torchBatched = new List<double>();
        for (var r = 0; r < options.Repeats; r++)
        {
            ct.ThrowIfCancellationRequested();
            single.Add(DecodeRate(generator.StreamBatch([prompts[0]], greedy), 1));
            torchSingle.Add(DecodeRate(torchPath.StreamBatch([prompts[0]], greedy), 1));
            llama.Greedy(prompts[0], options.Tokens, out var llamaRate);
            reference.Add(llamaRate);
            batched.Add(DecodeRate(generator.StreamBatch(prompts, greedy), prompts.Length));
            torchBatched.Add(DecodeRate(torchPath.StreamBatch(prompts, greedy), prompts.Length));
            Console.WriteLine($"  run {r + 1}: ours {single[^1],7:F1} tok/s | torch path {torchSingle[^1],7:F1} tok/s | llama.cpp {reference[^1],7:F1} tok/s | " +
                              $"ours x{options.Batch} {batched[^1],7:F1} tok/s | torch path x{options.Batch} {torchBatched[^1],7:F1} tok/s");
        }

        var (s, l, b) = (Median(single), Median(reference), Median(batched));
        Console.WriteLine();
        Console.WriteLine("| decode (greedy, after prefill)        | median tok/s | ms/token | min-max tok/s |");
        Console.WriteLine("|---------------------------------------|-------------:|---------:|---------------|");
        Row("ours, single stream (fast path)", single, 1);
        Row("ours, single stream (torch path)", torchSingle, 1);
        Row("llama.cpp, single stream (F32)", reference, 1);
        Row($"ours, {options.Batch} streams batched (fast path)", batched, options.Batch);
        Row($"ours, {options.Batch} streams batched (torch path)", torchBatched, options.Batch);
        Console.WriteLine();
        // Other processes load the machine unevenly: ratios of runs measured back to back are steadier than ratios of medians.
        var pairedSpeed = Median(single.Zip(reference, (o, t) => o / t).ToList());
        var pairedBatch = Median(batched.Zip(single, (x, o) => x / o).ToList());
        var pairedTorchBatch = Median(batched.Zip(torchSingle, (x, o) => x / o).ToList());
        var pairedTorch = Median(torchSingle.Zip(reference, (o, t) => o / t).ToList());
        Console.WriteLine($"ours / llama.cpp (single): {s / l:F2}x of medians, {pairedSpeed:F2}x median of paired runs   (target >= 1.00x)");
        Console.WriteLine($"torch path / llama.cpp (single): {Median(torchSingle) / l:F2}x of medians, {pairedTorch:F2}x median of paired runs");
        Console.WriteLine($"ours batched x{options.Batch} (fast path) / ours single (fast path): {b / s:F2}x of medians, {pairedBatch:F2}x median of paired runs   (target >= 4.00x)");
        var pairedFastTorchBatch = Median(batched.Zip(torchBatched, (x, o) => x / o).ToList());
        Console.WriteLine($"ours batched x{options.Batch}: fast path / torch path: {b / Median(torchBatched):F2}x of medians, {pairedFastTorchBatch:F2}x median of paired runs");
        Console.WriteLine($"ours batched x{options.Batch} (fast path) / llama.cpp single: {b / l:F2}x of medians, {Median(batched.Zip(reference, (x, o) => x / o).ToList()):F2}x median of paired runs");
        Console.WriteLine($"ours batched x{options.Batch} / torch path single: {b / Median(torchSingle):F2}x of medians, {pairedTorchBatch:F2}x median of paired runs");
    }

    static void Row(string name, List<double> rates, int streams)
    {
        var median = Median(rates);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name,-37} | {median,12:F1} | {1000.0 * streams / median,8:F2} | {rates.Min(),6:F0}-{rates.Max(),-6:F0} |"));
    }

    /// <summary>
    /// Tokens per second of the decode phase: the clock starts when the first step's tokens (one per row,
    /// picked from the prefill logits) arrive and stops at the last token; the first step's tokens are not counted.
    /// </summary>
    static double DecodeRate(IEnumerable<GeneratedToken> stream, int rows)
    {
        var clock = new Stopwatch();
        var count = 0;
        foreach (var _ in stream)
        {
            if (count++ == 0) clock.Start();
        }
        clock.Stop();
        return (count - rows) / clock.Elapsed.TotalSeconds;
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>A byte prompt starting with bos; different salts give different prompts of the same length.</summary>
    static int[] Prompt(int length, int salt) =>
        [StarterVocabulary.Bos, .. Enumerable.Range(0, length - 1).Select(i => 32 + (i * 31 + salt * 17) % 95)];
}
