namespace Assistant.Platform.Persistence;

/// <summary>A trainer worker process as it registered itself; its live heartbeat is in Redis.</summary>
public sealed class Worker
{
    public required string Id { get; set; }
    public required string Hostname { get; set; }
    public int ProcessId { get; set; }
    public required string PlatformVersion { get; set; }
    public required string Device { get; set; }
    public WorkerState State { get; set; }
    public DateTimeOffset RegisteredAt { get; set; }
    public DateTimeOffset LastHeartbeatAt { get; set; }

    /// <summary>The job (or evaluation) it is running, if any.</summary>
    public string? CurrentJobId { get; set; }

    // Resource use at the last heartbeat (the worker process and the job process it runs, together).
    public double CpuPercent { get; set; }
    public long RssBytes { get; set; }
    public long HostMemoryUsedBytes { get; set; }
    public long HostMemoryTotalBytes { get; set; }
    /// <summary>GPU utilisation in percent and memory, where a GPU exists (nvidia-smi); null otherwise.</summary>
    public double? GpuUtilizationPercent { get; set; }
    public long? GpuMemoryUsedBytes { get; set; }
    public long? GpuMemoryTotalBytes { get; set; }
}

public enum WorkerState
{
    Idle,
    Busy,
    Stopped,
}
