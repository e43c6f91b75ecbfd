using System.Diagnostics;
using System.Globalization;

namespace Assistant.Trainer;

/// <summary>What a heartbeat reports about the machine and the worker's processes.</summary>
public sealed record ResourceSample(
    double CpuPercent, long RssBytes, long HostMemoryUsedBytes, long HostMemoryTotalBytes,
    double? GpuUtilizationPercent, long? GpuMemoryUsedBytes, long? GpuMemoryTotalBytes);

/// <summary>
/// Samples resource use between heartbeats: CPU of the worker and its job process (percent of the whole
/// host, 100 = every core busy), their resident memory, host memory from <c>/proc/meminfo</c>, and the GPU
/// through <c>nvidia-smi</c> where one exists.
/// </summary>
public sealed class WorkerResources(ILogger<WorkerResources> logger)
{
    private const string NvidiaSmi = "nvidia-smi";
    private static readonly TimeSpan GpuQueryTimeout = TimeSpan.FromSeconds(5);

    private readonly string? _nvidiaSmi = FindOnPath(NvidiaSmi);
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private TimeSpan _lastWall;
    private TimeSpan _lastCpu;

    public async Task<ResourceSample> SampleAsync(Func<TimeSpan>? childCpu, Func<long>? childResident, CancellationToken ct)
    {
        using var self = Process.GetCurrentProcess();
        var cpu = self.TotalProcessorTime + (childCpu?.Invoke() ?? TimeSpan.Zero);
        var wall = _wall.Elapsed;
        // A job process that ended takes its CPU time with it: never report a negative share.
        var percent = wall > _lastWall
            ? Math.Clamp((cpu - _lastCpu).TotalSeconds / ((wall - _lastWall).TotalSeconds * Environment.ProcessorCount) * 100, 0, 100)
            : 0;
        (_lastWall, _lastCpu) = (wall, cpu);
        var rss = self.WorkingSet64 + (childResident?.Invoke() ?? 0);
        var (used, total) = HostMemory();
        var (gpuUtilization, gpuUsed, gpuTotal) = await GpuAsync(ct);
        return new ResourceSample(Math.Round(percent, 1), rss, used, total, gpuUtilization, gpuUsed, gpuTotal);
    }

    /// <summary>Used = MemTotal - MemAvailable (what the kernel could not hand out without swapping).</summary>
    private static (long Used, long Total) HostMemory()
    {
        try
        {
            long total = 0, available = 0;
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) total = Kilobytes(line);
                else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)) available = Kilobytes(line);
            }
            return (Math.Max(0, total - available) * 1024, total * 1024);
        }
        catch (IOException)
        {
            return (0, 0);
        }

        static long Kilobytes(string line) =>
            long.TryParse(line[(line.IndexOf(':') + 1)..].Replace("kB", "").Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb : 0;
    }

    private async Task<(double? Utilization, long? Used, long? Total)> GpuAsync(CancellationToken ct)
    {
        if (_nvidiaSmi is null) return (null, null, null);
        try
        {
            var start = new ProcessStartInfo(_nvidiaSmi, "--query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var process = Process.Start(start)!;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(GpuQueryTimeout);
            var output = await process.StandardOutput.ReadToEndAsync(timeout.Token);
            await process.WaitForExitAsync(timeout.Token);
            return process.ExitCode == 0 ? ParseNvidiaSmi(output) : (null, null, null);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            logger.LogDebug(e, "nvidia-smi did not answer");
            return (null, null, null);
        }
    }

    /// <summary>
    /// One CSV line per GPU, <c>utilization %, used MiB, total MiB</c>; several GPUs are summed (utilisation
    /// averaged). Fields a GPU does not support read <c>[N/A]</c> and are skipped.
    /// </summary>
    public static (double? Utilization, long? Used, long? Total) ParseNvidiaSmi(string output)
    {
        var utilizations = new List<double>();
        long? used = null, total = null;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = line.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length < 3) continue;
            if (double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var utilization)) utilizations.Add(utilization);
            if (long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var usedMib)) used = (used ?? 0) + usedMib * 1024 * 1024;
            if (long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var totalMib)) total = (total ?? 0) + totalMib * 1024 * 1024;
        }
        return (utilizations.Count > 0 ? utilizations.Average() : null, used, total);
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, program))
            .FirstOrDefault(File.Exists);
}
