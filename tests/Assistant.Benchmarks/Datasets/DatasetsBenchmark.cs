using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Assistant.Datasets;
using Assistant.Tokenization;

namespace Assistant.Benchmarks.Datasets;

/// <summary>
/// Validation + statistics throughput of <see cref="DatasetValidator"/> on a generated chat file (see
/// <see cref="SyntheticChat"/>), on one thread and on all cores, against plain <see cref="Gpt2Tokenizer"/> encoding of
/// the same contents; with the process's peak resident memory.
/// </summary>
public sealed class DatasetsBenchmark : IBenchmark
{
    public string Name => "datasets";

    public string Description => "dataset validation + statistics MB/s and peak RSS on a generated chat JSONL (GPT-2 token counts)";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var megabytes = 200;
        var repeats = 2;
        var threads = 0;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--mb": megabytes = value; break;
                case "--repeats": repeats = value; break;
                case "--threads": threads = value; break;
                default:
                    Console.Error.WriteLine("usage: datasets [--mb 200] [--repeats 2] [--threads N (default: 1, then all cores)]");
                    return 2;
            }
        }

        var path = Path.Combine(Path.GetTempPath(), $"assistant-datasets-{Environment.ProcessId}.jsonl");
        try
        {
            var clock = Stopwatch.StartNew();
            var records = new SyntheticChat(seed: 42).Write(path, megabytes * 1_000_000L);
            var size = new FileInfo(path).Length;
            Console.WriteLine($"datasets: {size / 1e6:F0} MB chat JSONL, {records:N0} records, generated in {clock.Elapsed.TotalSeconds:F1} s; " +
                              $"{Environment.ProcessorCount} cores; load average {LoadAverage()}");
            Console.WriteLine($"peak RSS before validating: {PeakRssMb():F0} MB");

            // The first run fills the process-wide GPT-2 piece cache (a cold start); later runs find it warm.
            foreach (var degree in threads > 0 ? [threads] : new[] { 1, Environment.ProcessorCount }.Distinct())
            {
                for (var r = 0; r < repeats; r++)
                {
                    await Validate(path, size, degree, ct);
                }
            }

            ReferenceEncoding(path, ct);
            return 0;
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task Validate(string path, long size, int degree, CancellationToken ct)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var allocated = GC.GetTotalAllocatedBytes();
        var clock = Stopwatch.StartNew();
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var report = await DatasetValidator.ValidateAsync(stream, new ValidationOptions { MaxLength = 1024, MaxDegreeOfParallelism = degree }, ct);
        var seconds = clock.Elapsed.TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var stats = report.Statistics!;
        Console.WriteLine($"  validate {degree} thread(s): {size / 1e6 / seconds,6:F1} MB/s | {stats.Tokens / 1e6 / seconds,5:F1} Mtok/s | {seconds,5:F2} s | " +
                          $"cpu {cpuSeconds:F2} s ({size / 1e6 / cpuSeconds:F1} MB per cpu-s) | {stats.Tokens / (double)size:F3} tok/byte | " +
                          $"{stats.Examples:N0} records, {stats.OverMaxLength:N0} over 1024 | valid {report.IsValid} | allocated {(GC.GetTotalAllocatedBytes() - allocated) / 1e6:F0} MB | peak RSS {PeakRssMb():F0} MB");
    }

    // What counting with the tokenizer's Encode would cost: the first 20 MB of contents, one thread.
    private static void ReferenceEncoding(string path, CancellationToken ct)
    {
        var contents = new List<string>();
        long bytes = 0;
        foreach (var line in File.ReadLines(path))
        {
            using var doc = JsonDocument.Parse(line);
            contents.AddRange(doc.RootElement.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("content").GetString()!));
            bytes += line.Length + 1;
            if (bytes > 20_000_000)
            {
                break;
            }
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        foreach (var content in contents)
        {
            ct.ThrowIfCancellationRequested();
            tokens += Gpt2Tokenizer.Instance.Encode(content).Count;
        }

        var seconds = clock.Elapsed.TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        Console.WriteLine($"  reference Gpt2Tokenizer.Encode, 1 thread: {bytes / 1e6 / seconds,6:F1} MB/s | {tokens / 1e6 / seconds:F2} Mtok/s | cpu {cpuSeconds:F2} s for {bytes / 1e6:F0} MB");
    }

    private static double PeakRssMb()
    {
        using var process = Process.GetCurrentProcess();
        return process.PeakWorkingSet64 / 1e6;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
