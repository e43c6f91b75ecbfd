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
}

public enum WorkerState
{
    Idle,
    Busy,
    Stopped,
}
