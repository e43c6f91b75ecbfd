using System.Globalization;
using System.Runtime.InteropServices;

namespace Assistant.Modeling.Training;

/// <summary>What the trainer needs to know about the machine: peak FLOP/s, memory, OpenMP behaviour.</summary>
public static class MachineInfo
{
    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless set: with cores shared,
    /// spinning OpenMP threads stall badly (PLATFORM.md). Only effective before libtorch first loads.
    /// </summary>
    public static void PreferPassiveOpenMpWaits()
    {
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null || !OperatingSystem.IsLinux()) return;
        Environment.SetEnvironmentVariable("OMP_WAIT_POLICY", "PASSIVE");
        try { _ = SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0); } // .NET's own setter does not reach native getenv
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [DllImport("libc", EntryPoint = "setenv", CharSet = CharSet.Ansi)]
    private static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// fp32 peak of <paramref name="threads"/> cores: FLOPs per cycle (2 FMA units x vector width x 2)
    /// times the highest clock the OS reports (cpufreq max, else /proc/cpuinfo).
    /// </summary>
    public static double CpuPeakFlops(int threads)
    {
        double flopsPerCycle = 8; // SSE: 2 units x 4 lanes, no FMA
        double ghz = 2.0;
        try
        {
            var cpuinfo = File.Exists("/proc/cpuinfo") ? File.ReadAllText("/proc/cpuinfo") : "";
            var flags = cpuinfo.Split('\n').FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal)) ?? "";
            bool Has(string flag) => flags.Contains(' ' + flag + ' ', StringComparison.Ordinal) || flags.EndsWith(' ' + flag, StringComparison.Ordinal);
            flopsPerCycle = Has("avx512f") ? 64 : Has("avx2") && Has("fma") ? 32 : Has("avx") ? 16 : 8;
            const string maxFreq = "/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq";
            if (File.Exists(maxFreq) && double.TryParse(File.ReadAllText(maxFreq).Trim(), CultureInfo.InvariantCulture, out var khz)) ghz = khz / 1e6;
            else
            {
                var mhz = cpuinfo.Split('\n').Where(l => l.StartsWith("cpu MHz", StringComparison.Ordinal))
                    .Select(l => double.TryParse(l[(l.IndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture, out var v) ? v : 0).DefaultIfEmpty(2000).Max();
                ghz = mhz / 1000;
            }
        }
        catch (IOException) { }
        return Math.Max(1, threads) * flopsPerCycle * ghz * 1e9;
    }

    /// <summary>Resident memory of this process, MiB.</summary>
    public static double ResidentMb() => Environment.WorkingSet / (1024.0 * 1024.0);

    /// <summary>Peak resident memory of this process (VmHWM), MiB; the current figure where the OS does not say.</summary>
    public static double PeakResidentMb()
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null && double.TryParse(line[6..].Replace("kB", "").Trim(), CultureInfo.InvariantCulture, out var kb)) return kb / 1024;
        }
        catch (IOException) { }
        return ResidentMb();
    }
}
