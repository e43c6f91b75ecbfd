using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;

namespace Assistant.Trainer.JobProcesses;

/// <summary>
/// The worker's handle on a job's child process: its messages (stdout, one JSON line each), commands to it
/// (stdin), its stderr logged line by line, and a kill that takes its whole process tree.
/// </summary>
public sealed class JobProcess : IDisposable
{
    private const int StderrTailLines = 20;

    private readonly Process _process;
    private readonly ILogger _logger;
    private readonly Channel<JobProcessMessage> _messages = Channel.CreateUnbounded<JobProcessMessage>(new() { SingleReader = true, SingleWriter = true });
    private readonly Queue<string> _stderrTail = new();
    private readonly SemaphoreSlim _stdin = new(1, 1);
    private readonly Task _stdoutPump;

    private JobProcess(Process process, ILogger logger)
    {
        _process = process;
        _logger = logger;
        ProcessId = process.Id;
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_stderrTail)
            {
                _stderrTail.Enqueue(e.Data);
                if (_stderrTail.Count > StderrTailLines) _stderrTail.Dequeue();
            }
            _logger.LogInformation("[job process {ProcessId}] {Line}", ProcessId, e.Data);
        };
        _process.BeginErrorReadLine();
        _stdoutPump = Task.Run(PumpStdoutAsync);
    }

    public int ProcessId { get; }

    /// <summary>Everything the child wrote on stdout, in order; completes when it closes stdout (exits).</summary>
    public ChannelReader<JobProcessMessage> Messages => _messages.Reader;

    /// <summary>The last lines of the child's stderr, to explain a crash.</summary>
    public string StderrTail
    {
        get
        {
            lock (_stderrTail) return string.Join('\n', _stderrTail);
        }
    }

    /// <summary>
    /// Starts this executable in child mode. When the worker runs as <c>dotnet Assistant.Trainer.dll</c> the
    /// entry assembly is passed first, else the apphost binary is started directly.
    /// </summary>
    public static JobProcess Start(string command, string argument, string workingDirectory, ILogger logger)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("The worker's executable path is unknown.");
        var start = new ProcessStartInfo(host)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(Assembly.GetEntryAssembly()?.Location ?? throw new InvalidOperationException("The worker's entry assembly is unknown."));
        start.ArgumentList.Add(command);
        start.ArgumentList.Add(argument);
        // A training child holds tensors in native memory; workstation GC keeps its managed heap small.
        start.Environment["DOTNET_gcServer"] = "0";

        var process = new Process { StartInfo = start };
        process.Start();
        return new JobProcess(process, logger);
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) continue;
                var message = JobProcessMessage.Parse(line);
                if (message.Text is not null)
                {
                    _logger.LogInformation("[job process {ProcessId}] {Line}", ProcessId, message.Text);
                    continue;
                }
                _messages.Writer.TryWrite(message);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            _logger.LogWarning(e, "Reading job process {ProcessId} stopped", ProcessId);
        }
        finally
        {
            _messages.Writer.TryComplete();
        }
    }

    /// <summary>Writes a command line; false when the child is gone (its stdin is closed).</summary>
    public async Task<bool> SendAsync(string command)
    {
        await _stdin.WaitAsync();
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            return false;
        }
        finally
        {
            _stdin.Release();
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits for the child to exit and for its stdout to be read to the end; returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(CancellationToken ct)
    {
        await _process.WaitForExitAsync(ct);
        await _stdoutPump.WaitAsync(ct);
        return _process.ExitCode;
    }

    /// <summary>Waits up to <paramref name="grace"/> for the child to exit, then kills it.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _logger.LogWarning("Job process {ProcessId} did not stop within {Grace}; killing it", ProcessId, grace);
            Kill();
            await _process.WaitForExitAsync(CancellationToken.None);
        }
    }

    public void Kill()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    /// <summary>Resident memory of the child, for the worker's heartbeat; 0 once it has exited.</summary>
    public long ResidentBytes()
    {
        try
        {
            _process.Refresh();
            return _process.HasExited ? 0 : _process.WorkingSet64;
        }
        catch (InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary>CPU time the child used so far.</summary>
    public TimeSpan CpuTime()
    {
        try
        {
            return _process.HasExited ? TimeSpan.Zero : _process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero;
        }
    }

    /// <summary>Kills a child that is still running (the worker never leaves one behind) and releases the handle.</summary>
    public void Dispose()
    {
        if (!HasExitedSafe()) Kill();
        _process.Dispose();
        _stdin.Dispose();
    }

    private bool HasExitedSafe()
    {
        try
        {
            return _process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }
}
