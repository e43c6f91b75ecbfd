using System.Diagnostics;
using System.Text.Json;
using Assistant.Modeling.Training;
using Assistant.Platform.Jobs;
using Assistant.Platform.Models;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Assistant.Trainer.JobProcesses;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Assistant.Trainer.Jobs;

/// <summary>
/// Scores a model version on a dataset version (an <see cref="Evaluation"/>): claimed like a job with a
/// conditional update and a lease, run in a child process (<c>evaluate</c>), and stored as metrics or an error.
/// </summary>
public sealed class EvaluationRunner(
    IServiceScopeFactory scopes,
    JobQueue queue,
    WorkerIdentity worker,
    ActiveWork active,
    IOptions<TrainerOptions> options,
    ILogger<EvaluationRunner> logger)
{
    private static readonly JsonSerializerOptions Json = LiveUpdate.JsonOptions;

    public async Task RunAsync(WorkItem item, CancellationToken stopping)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            if (!await JobQueue.TryClaimEvaluationAsync(db, item.Id, worker.Id, options.Value.LeaseDuration, stopping))
            {
                logger.LogInformation("Evaluation {EvaluationId} is not claimable; skipping", item.Id);
                return;
            }
            var evaluation = await db.Evaluations.AsNoTracking().SingleAsync(e => e.Id == item.Id, stopping);
            using var busy = active.Begin(evaluation.Id);
            using var span = TrainerTelemetry.Source.StartActivity("evaluation run", ActivityKind.Consumer, parentContext: default);
            span?.SetTag("evaluation.id", evaluation.Id);
            span?.SetTag("job.id", evaluation.JobId);

            using var done = new CancellationTokenSource();
            var leaseKeeper = KeepLeaseAsync(evaluation.Id, done.Token);
            (string? Metrics, string? Error) outcome;
            try
            {
                outcome = await ScoreAsync(scope.ServiceProvider, evaluation, stopping);
            }
            finally
            {
                await done.CancelAsync();
                await leaseKeeper;
            }
            var status = outcome.Error is null ? EvaluationStatus.Succeeded : EvaluationStatus.Failed;
            var recorded = await JobQueue.FinishEvaluationAsync(db, evaluation.Id, worker.Id, outcome.Metrics, outcome.Error, stopping);
            logger.LogInformation("Evaluation {EvaluationId} {Status}{Lost}", evaluation.Id, status, recorded ? "" : " (lease lost: not recorded)");
            span?.SetTag("evaluation.status", status);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The lease expires and the reconciler queues the evaluation again.
        }
        finally
        {
            try
            {
                await queue.AcknowledgeAsync(item.MessageId);
            }
            catch (StackExchange.Redis.RedisException e)
            {
                logger.LogWarning(e, "Could not acknowledge message {MessageId} of evaluation {EvaluationId}", item.MessageId, item.Id);
            }
        }
    }

    private async Task KeepLeaseAsync(string id, CancellationToken done)
    {
        while (!done.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(options.Value.LeaseRenewal, done);
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
                await JobQueue.RenewEvaluationLeaseAsync(db, id, worker.Id, options.Value.LeaseDuration, done);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or DbUpdateException or TimeoutException)
            {
                logger.LogWarning(e, "Evaluation {EvaluationId}: renewing the lease failed; retrying", id);
            }
        }
    }

    /// <summary>Downloads the model and data, runs the <c>evaluate</c> child and returns its metrics JSON, or an error for the user.</summary>
    private async Task<(string? Metrics, string? Error)> ScoreAsync(IServiceProvider services, Evaluation evaluation, CancellationToken ct)
    {
        var registry = services.GetRequiredService<ModelRegistry>();
        var artifacts = services.GetRequiredService<ArtifactStore>();
        var db = services.GetRequiredService<PlatformDbContext>();
        using var workspace = new JobWorkspace(Path.Combine(options.Value.ResolveWorkDir(worker.Id), "evaluations", evaluation.Id), logger);
        try
        {
            var version = await registry.GetVersionAsync(evaluation.ModelVersionId, ct);
            await registry.DownloadAsync(version, workspace.ModelFolder, ct);
            await JobWorkspace.DownloadBlobAsync(artifacts, evaluation.DatasetSha256, workspace.DataFile("test"), ct);
        }
        catch (Exception e) when (e is ModelRegistryException or InvalidDataException or MissingDatasetException)
        {
            return (null, e.Message);
        }

        // Score the way the job trained: its method and lengths, so the numbers compare with its own test metrics.
        var hyperparameters = await db.Jobs.AsNoTracking().Where(j => j.Id == evaluation.JobId)
            .Select(j => new { j.Hyperparameters, j.Method }).SingleOrDefaultAsync(ct);
        var config = new TrainingConfig();
        try
        {
            if (hyperparameters is not null)
                config = TrainingConfig.FromJson(hyperparameters.Hyperparameters, "hyperparameters") with { Method = hyperparameters.Method };
        }
        catch (TrainingConfigException)
        {
            // A job whose hyperparameters no longer parse still has a model worth scoring: use the defaults.
        }
        var spec = new TrainingSpec
        {
            Model = workspace.ModelFolder,
            TrainFile = workspace.DataFile("test"),
            TestFile = workspace.DataFile("test"),
            OutputDir = workspace.OutputFolder,
            Config = config,
        };
        await File.WriteAllTextAsync(workspace.SpecFile, spec.ToJson(), ct);

        using var process = JobProcess.Start(JobProcessProtocol.EvaluateCommand, workspace.SpecFile, workspace.Root, logger);
        active.Attach(process);
        TestMetrics? metrics = null;
        JobProcessResult? result = null;
        await foreach (var message in process.Messages.ReadAllAsync(ct))
        {
            if (message.Event is TestMetrics test) metrics = test;
            if (message.Result is not null) result = message.Result;
        }
        var exitCode = await process.WaitForExitAsync(ct);
        if (metrics is not null && exitCode == JobProcessProtocol.Succeeded)
        {
            return (JsonSerializer.Serialize(new
            {
                test_loss = metrics.TestLoss, test_perplexity = Finite(metrics.TestPerplexity), test_mean_token_accuracy = metrics.TestMeanTokenAccuracy,
                exact_match = metrics.ExactMatch, rouge_l = metrics.RougeL, examples = metrics.Examples, samples = metrics.Samples.Take(50),
            }, Json), null);
        }
        var error = result?.Error?.Message ?? $"The evaluation process exited with code {exitCode}: {process.StderrTail}";
        return (null, error.Replace(workspace.DataFile("test"), evaluation.DatasetRef, StringComparison.Ordinal)
            .Replace(workspace.ModelFolder, "the model", StringComparison.Ordinal));
    }

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}
