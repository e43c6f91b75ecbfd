using System.Text;
using Assistant.Modeling;
using Assistant.Modeling.Training;
using Assistant.Tokenization;

namespace Assistant.Trainer.JobProcesses;

/// <summary>
/// The child side: <c>Assistant.Trainer run-job|evaluate spec.json</c> and <c>create-starter folder</c>.
/// It is the same engine as <c>assistant train</c>, in its own process so that a native crash, a leak or an
/// out-of-memory kill ends the job and never the worker, and so that cancel frees all of the job's memory.
/// </summary>
public static class JobProcessMain
{
    public static int Run(string[] args)
    {
        // Before libtorch loads: spinning OpenMP threads stall badly on shared cores (PLATFORM.md).
        MachineInfo.PreferPassiveOpenMpWaits();
        if (args.Length != 2)
        {
            Console.Error.WriteLine($"usage: {JobProcessProtocol.RunJobCommand}|{JobProcessProtocol.EvaluateCommand} <spec.json> | {JobProcessProtocol.CreateStarterCommand} <folder>");
            return JobProcessProtocol.UserError;
        }
        if (args[0] == JobProcessProtocol.CreateStarterCommand)
        {
            ModelPresets.Create("llama", "tiny", seed: 0, args[1], TokenizerLoader.WriteStarterTokenizer);
            return JobProcessProtocol.Succeeded;
        }

        var channel = new WorkerChannel();
        channel.StartListening();
        TrainingSpec spec;
        try
        {
            spec = TrainingSpec.FromJson(File.ReadAllText(args[1]));
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or TrainingConfigException)
        {
            return channel.Finish(Failed(new JobError("invalid_hyperparameters", $"The job spec cannot be read: {e.Message}", "hyperparameters")));
        }
        return args[0] == JobProcessProtocol.RunJobCommand ? Train(spec, channel) : Evaluate(spec, channel);
    }

    private static int Train(TrainingSpec spec, WorkerChannel channel)
    {
        TrainingResult result;
        try
        {
            result = TrainingRun.Execute(spec, channel, channel.Cancellation);
        }
        catch (Exception e) when (UserErrorOf(e, spec) is { } error)
        {
            return channel.Finish(Failed(error));
        }
        return channel.Finish(new JobProcessResult
        {
            Status = result.Status switch
            {
                TrainingStatus.Succeeded => "succeeded",
                TrainingStatus.Cancelled => "cancelled",
                _ => "failed",
            },
            Steps = result.Steps,
            StopReason = result.StopReason,
            FinalModelPath = result.FinalModelPath,
            Error = result.Error is { } failure ? new JobError(failure.Code, failure.Message) : null,
        });
    }

    private static int Evaluate(TrainingSpec spec, WorkerChannel channel)
    {
        var dataFile = spec.TestFile ?? spec.TrainFile;
        try
        {
            var metrics = TrainingRun.Score(spec.Model, dataFile, spec.Config);
            channel.Report(metrics);
            return channel.Finish(new JobProcessResult { Status = "succeeded", StopReason = "evaluated" });
        }
        catch (Exception e) when (UserErrorOf(e, spec) is { } error)
        {
            return channel.Finish(Failed(error));
        }
    }

    private static JobProcessResult Failed(JobError error) => new() { Status = "failed", Error = error };

    /// <summary>Errors the job's own input causes (data, hyperparameters, model files), with the field at fault; anything else is a crash.</summary>
    private static JobError? UserErrorOf(Exception e, TrainingSpec spec) => e switch
    {
        TrainingDataException when spec.ValidationFile is not null && e.Message.StartsWith(spec.ValidationFile, StringComparison.Ordinal) =>
            new JobError("invalid_validation_file", e.Message, "validation_file"),
        TrainingDataException when spec.TestFile is not null && e.Message.StartsWith(spec.TestFile, StringComparison.Ordinal) =>
            new JobError("invalid_test_file", e.Message, "test_file"),
        TrainingDataException => new JobError("invalid_training_file", e.Message, "training_file"),
        TrainingConfigException c => new JobError("invalid_hyperparameters", e.Message, c.Field ?? "hyperparameters"),
        ModelFormatException => new JobError("model_error", e.Message, "model"),
        _ => null,
    };

    /// <summary>
    /// The child's stdin/stdout: events out as JSON lines (checkpoints wait for the worker's <c>ack</c>),
    /// <c>cancel</c> in, and exit at once when stdin closes.
    /// </summary>
    private sealed class WorkerChannel : IProgress<TrainingEvent>
    {
        private readonly TextWriter _protocol;
        private readonly CancellationTokenSource _cancel = new();
        private readonly SemaphoreSlim _acks = new(0);

        public WorkerChannel()
        {
            _protocol = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
            // Only protocol lines go to stdout; anything else the code prints goes to stderr, which the worker logs.
            Console.SetOut(Console.Error);
        }

        public CancellationToken Cancellation => _cancel.Token;

        public void StartListening()
        {
            var listener = new Thread(Listen) { IsBackground = true, Name = "worker commands" };
            listener.Start();
        }

        private void Listen()
        {
            var input = Console.In;
            while (input.ReadLine() is { } line)
            {
                switch (line.Trim())
                {
                    case JobProcessProtocol.Cancel: _cancel.Cancel(); break;
                    case JobProcessProtocol.Ack: _acks.Release(); break;
                }
            }
            // The worker is gone (killed, crashed): nobody can store what this run produces, so stop now.
            Console.Error.WriteLine("stdin closed: the worker is gone; exiting");
            Environment.Exit(JobProcessProtocol.Orphaned);
        }

        /// <summary>
        /// Called synchronously on the training thread. A checkpoint blocks until the worker has uploaded it,
        /// so the trainer cannot prune the folder while it is being read.
        /// </summary>
        public void Report(TrainingEvent value)
        {
            Write(value.ToJson());
            if (value is CheckpointSaved) _acks.Wait(_cancel.Token);
        }

        public int Finish(JobProcessResult result)
        {
            Write(result.ToJson());
            return result.Status switch
            {
                "succeeded" => JobProcessProtocol.Succeeded,
                "cancelled" => JobProcessProtocol.Cancelled,
                _ when result.Error?.Code is "nan_loss" => JobProcessProtocol.TrainingFailed,
                _ => JobProcessProtocol.UserError,
            };
        }

        private void Write(string line)
        {
            lock (_protocol) _protocol.WriteLine(line);
        }
    }
}
