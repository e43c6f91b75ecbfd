using Assistant.Trainer.JobProcesses;

namespace Assistant.Trainer;

/// <summary>Who this worker is: <c>host-pid</c>, unique while the process lives, readable in logs and dashboards.</summary>
public sealed record WorkerIdentity(string Id)
{
    public static WorkerIdentity ForThisProcess() => new($"{Environment.MachineName}-{Environment.ProcessId}".ToLowerInvariant());
}

/// <summary>
/// What the worker is doing right now, one job or evaluation at a time: heartbeats read it (current job, the
/// job process's memory and CPU), and cancel notices are routed through it to the run they concern.
/// </summary>
public sealed class ActiveWork
{
    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _changed = new(0);
    private string? _id;
    private JobProcess? _process;
    private Action? _cancel;

    public string? Id
    {
        get { lock (_gate) return _id; }
    }

    public JobProcess? Process
    {
        get { lock (_gate) return _process; }
    }

    /// <summary>Marks the worker busy with <paramref name="id"/> until the returned handle is disposed.</summary>
    public IDisposable Begin(string id, Action? onCancelRequested = null)
    {
        lock (_gate) (_id, _process, _cancel) = (id, null, onCancelRequested);
        _changed.Release();
        return new End(this, id);
    }

    public void Attach(JobProcess process)
    {
        lock (_gate) _process = process;
    }

    /// <summary>Forwards a cancel request to the running job when it is the one named; other ids are someone else's.</summary>
    public void RequestCancel(string id)
    {
        Action? cancel;
        lock (_gate) cancel = _id == id ? _cancel : null;
        cancel?.Invoke();
    }

    /// <summary>Waits until the work changes (a heartbeat then reports it at once) or <paramref name="timeout"/> passes.</summary>
    public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct) => _changed.WaitAsync(timeout, ct);

    private sealed class End(ActiveWork owner, string id) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._gate)
            {
                if (owner._id != id) return;
                (owner._id, owner._process, owner._cancel) = (null, null, null);
            }
            owner._changed.Release();
        }
    }
}
