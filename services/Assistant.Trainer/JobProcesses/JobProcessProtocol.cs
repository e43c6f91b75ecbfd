using System.Text.Json;
using System.Text.Json.Serialization;
using Assistant.Modeling.Training;

namespace Assistant.Trainer.JobProcesses;

/// <summary>
/// How the worker and a job's child process talk. The child writes one JSON line per
/// <see cref="TrainingEvent"/> to stdout and ends with one <see cref="JobProcessResult"/> line; the worker
/// writes commands to the child's stdin. Closing stdin (the worker died) makes the child exit at once.
/// </summary>
public static class JobProcessProtocol
{
    /// <summary>Child commands: train from a spec, score a model on a data file, write the starter model.</summary>
    public const string RunJobCommand = "run-job", EvaluateCommand = "evaluate", CreateStarterCommand = "create-starter";

    /// <summary>Worker → child: stop the run at the next optimizer step.</summary>
    public const string Cancel = "cancel";

    /// <summary>Worker → child: the checkpoint just reported is safely in S3; training may go on (and prune it locally).</summary>
    public const string Ack = "ack";

    public const int Succeeded = TrainingConsole.Ok;
    public const int UserError = TrainingConsole.UserError;
    public const int TrainingFailed = TrainingConsole.TrainingFailed;
    public const int Cancelled = TrainingConsole.Cancelled;
    /// <summary>The worker went away (stdin closed) and the child stopped so that no orphan keeps training.</summary>
    public const int Orphaned = 3;

    public static bool IsChildCommand(string[] args) =>
        args.Length > 0 && args[0] is RunJobCommand or EvaluateCommand or CreateStarterCommand;
}

/// <summary>An error a job ends with, in OpenAI's shape: <c>{code, message, param}</c>.</summary>
public sealed record JobError(string Code, string Message, string? Param = null);

/// <summary>The child's last stdout line: how the run ended.</summary>
public sealed record JobProcessResult
{
    public const string TypeName = "result";

    [JsonPropertyOrder(-1)]
    public string Type => TypeName;

    /// <summary>succeeded, failed or cancelled (the job statuses).</summary>
    public required string Status { get; init; }
    public int Steps { get; init; }
    public string? StopReason { get; init; }
    /// <summary>The exported HF folder of a succeeded run.</summary>
    public string? FinalModelPath { get; init; }
    public JobError? Error { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, TrainingEvent.JsonOptions);
}

/// <summary>One line the child wrote: a training event, the result, or neither (text that is not the protocol).</summary>
public sealed record JobProcessMessage(TrainingEvent? Event, JobProcessResult? Result, string? Text)
{
    /// <summary>Reads a stdout line; never throws, since a native library may print anything to stdout.</summary>
    public static JobProcessMessage Parse(string line)
    {
        if (!line.StartsWith('{')) return new(null, null, line);
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.TryGetProperty("type", out var type) && type.ValueEquals(JobProcessResult.TypeName))
                return new(null, document.RootElement.Deserialize<JobProcessResult>(TrainingEvent.JsonOptions), null);
            return new(document.RootElement.Deserialize<TrainingEvent>(TrainingEvent.JsonOptions), null, null);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            return new(null, null, line);
        }
    }
}
