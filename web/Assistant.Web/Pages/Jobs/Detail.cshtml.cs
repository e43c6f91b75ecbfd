using System.Text.Json;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Jobs;

/// <summary>A generation the trainer made at an evaluation, beside the answer the data gives.</summary>
public sealed record GenerationSample(string Prompt, string Reference, string Generated);

/// <summary>The samples of one evaluation (eval during training, test at the end).</summary>
public sealed record SampleSet(long EventId, string Type, int? Step, string Message, IReadOnlyList<GenerationSample> Samples)
{
    /// <summary>The sets an event list holds, oldest step first.</summary>
    public static IReadOnlyList<SampleSet> From(IEnumerable<JobEvent> events) =>
        events.Where(e => e.Type is "eval" or "test" && e.Data is { ValueKind: JsonValueKind.Object } data
                && data.TryGetProperty("samples", out var samples) && samples.ValueKind == JsonValueKind.Array && samples.GetArrayLength() > 0)
            .Select(e => new SampleSet(e.Id, e.Type, e.Data!.Value.TryGetProperty("step", out var step) && step.TryGetInt32(out var n) ? n : null, e.Message,
                e.Data.Value.GetProperty("samples").EnumerateArray().Where(s => s.ValueKind == JsonValueKind.Object)
                    .Select(s => new GenerationSample(Text(s, "prompt"), Text(s, "reference"), Text(s, "generated"))).ToList()))
            .OrderBy(s => s.EventId)
            .ToList();

    private static string Text(JsonElement sample, string name) =>
        sample.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
}

public sealed class DetailModel(PlatformApi api, EventStreamRelay relay) : PageModel
{
    /// <summary>Versions offered per dataset for an evaluation, the latest first.</summary>
    private const int DatasetVersionsOffered = 3;

    /// <summary>The series the charts draw.</summary>
    public static readonly string[] ChartKeys = ["train_loss", "valid_loss", "learning_rate", "tokens_per_second", "memory_mb"];

    /// <summary>The hyperparameters shown at a glance; the rest are one click away.</summary>
    public static readonly string[] MainSettings = ["learning_rate", "max_steps", "num_epochs", "batch_size", "max_length", "lora_r"];

    [BindProperty(SupportsGet = true)]
    public string Id { get; set; } = "";

    [TempData]
    public string? Notice { get; set; }

    [TempData]
    public string? ActionError { get; set; }

    public Job? Job { get; private set; }
    public IReadOnlyList<JobEvent> Events { get; private set; } = [];
    public IReadOnlyList<Checkpoint> Checkpoints { get; private set; } = [];
    public IReadOnlyDictionary<string, MetricSeries> Series { get; private set; } = new Dictionary<string, MetricSeries>();
    public string? Error { get; private set; }

    /// <summary>The evaluation started from this page, followed until it ends.</summary>
    [BindProperty(SupportsGet = true, Name = "evaluation")]
    public string? EvaluationId { get; set; }

    [TempData]
    public string? EvaluateError { get; set; }

    [TempData]
    public string? EvaluateDataset { get; set; }

    [TempData]
    public string? RegisterError { get; set; }

    /// <summary>The field the register error names: name or step.</summary>
    [TempData]
    public string? RegisterErrorField { get; set; }

    public Evaluation? Evaluation { get; private set; }

    /// <summary>The model's other evaluations, newest first (the followed one is <see cref="Evaluation"/>).</summary>
    public IReadOnlyList<Evaluation> EarlierEvaluations { get; private set; } = [];
    public IReadOnlyList<string> DatasetChoices { get; private set; } = [];
    public IReadOnlyList<SampleSet> Samples { get; private set; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        var job = api.GetJobAsync(Id, ct);
        var events = api.ListEventsAsync(Id, 200, ct);
        var checkpoints = api.ListCheckpointsAsync(Id, ct);
        var metrics = api.GetMetricsAsync(Id, ChartKeys, ct);
        try
        {
            Job = await job;
            Events = (await events).Data;
            Checkpoints = (await checkpoints).Data;
            Series = (await metrics).Series;
            Samples = SampleSet.From(Events);
            if (Job.Status == "succeeded")
            {
                var evaluations = api.ListEvaluationsAsync(Id, ct);
                DatasetChoices = DatasetOption.Recent(await api.ListDatasetsAsync(ct), DatasetVersionsOffered).Select(o => o.Ref).ToList();
                EarlierEvaluations = (await evaluations).Data.Where(e => e.Id != EvaluationId).ToList();
            }
            if (!string.IsNullOrEmpty(EvaluationId))
            {
                Evaluation = await api.GetEvaluationAsync(EvaluationId, ct);
            }
        }
        catch (GatewayProblem problem)
        {
            if (Job is null)
            {
                Response.StatusCode = problem.Status;
            }
            Error = problem.Detail;
        }
        return Page();
    }

    /// <summary>Queues an evaluation of this job's model on a dataset version; the page then follows it.</summary>
    public async Task<IActionResult> OnPostEvaluateAsync(string? dataset, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(dataset))
        {
            (EvaluateError, EvaluateDataset) = ("Choose the dataset version to evaluate on.", dataset);
            return Redirect($"/jobs/{Uri.EscapeDataString(Id)}#evaluate-heading");
        }
        try
        {
            var evaluation = await api.EvaluateJobAsync(Id, dataset, ct);
            return Redirect($"/jobs/{Uri.EscapeDataString(Id)}?evaluation={Uri.EscapeDataString(evaluation.Id)}#evaluate-heading");
        }
        catch (GatewayProblem problem)
        {
            (EvaluateError, EvaluateDataset) = (problem.Detail, dataset);
            return Redirect($"/jobs/{Uri.EscapeDataString(Id)}#evaluate-heading");
        }
    }

    /// <summary>Registers one of the job's checkpoints (the best one, say) as the next version of a model.</summary>
    public async Task<IActionResult> OnPostRegisterAsync(int step, string? model, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(model))
        {
            (RegisterError, RegisterErrorField) = ("Enter the model to register the checkpoint under.", "name");
            return Redirect($"/jobs/{Uri.EscapeDataString(Id)}#register-heading");
        }
        try
        {
            var version = await api.RegisterCheckpointAsync(model.Trim(), Id, step, ct);
            Notice = $"Registered the checkpoint at step {step} as {version.Ref}.";
        }
        catch (GatewayProblem problem)
        {
            (RegisterError, RegisterErrorField) = (problem.Detail, problem.Param is "name" or "step" ? problem.Param : null);
        }
        return Redirect($"/jobs/{Uri.EscapeDataString(Id)}#register-heading");
    }

    /// <summary>An evaluation as the API has it now, polled until it ends.</summary>
    public async Task<IActionResult> OnGetEvaluationAsync(CancellationToken ct)
    {
        try
        {
            return new JsonResult(await api.GetEvaluationAsync(EvaluationId ?? "", ct), GatewayJson.Options);
        }
        catch (GatewayProblem problem)
        {
            return problem.ToResult();
        }
    }

    /// <summary>The job's live updates: the gateway's SSE stream, opened with the session's key and relayed.</summary>
    public async Task<IActionResult> OnGetStreamAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"api/jobs/{Uri.EscapeDataString(Id)}/stream");
        await relay.RelayAsync(request, HttpContext);
        return new EmptyResult();
    }

    /// <summary>The chart series as recorded, for catching up after the live stream (re)connects.</summary>
    public async Task<IActionResult> OnGetMetricsAsync(CancellationToken ct)
    {
        try
        {
            return new JsonResult((await api.GetMetricsAsync(Id, ChartKeys, ct)).Series);
        }
        catch (GatewayProblem problem)
        {
            return problem.ToResult();
        }
    }

    /// <summary>The checkpoints table, redrawn when a checkpoint is saved or the job ends.</summary>
    public async Task<IActionResult> OnGetCheckpointsAsync(CancellationToken ct)
    {
        try
        {
            return Partial("_Checkpoints", (await api.ListCheckpointsAsync(Id, ct)).Data);
        }
        catch (GatewayProblem problem)
        {
            return problem.ToResult();
        }
    }

    public async Task<IActionResult> OnPostCancelAsync(CancellationToken ct)
    {
        try
        {
            await api.CancelJobAsync(Id, ct);
            Notice = "Cancellation requested: a running job stops within one optimizer step.";
        }
        catch (GatewayProblem problem)
        {
            ActionError = problem.Detail;
        }
        return Redirect($"/jobs/{Uri.EscapeDataString(Id)}");
    }

    public async Task<IActionResult> OnPostDeployAsync(string? alias, CancellationToken ct)
    {
        alias = string.IsNullOrWhiteSpace(alias) ? "production" : alias.Trim();
        try
        {
            var deployed = await api.DeployAsync(Id, alias, ct);
            Notice = $"Deployed: {deployed.Alias} of {deployed.Model} now points at version {deployed.Version}"
                + (deployed.PreviousVersion is { } previous ? $" (was {previous})." : ".");
        }
        catch (GatewayProblem problem)
        {
            ActionError = $"Not deployed: {problem.Detail}";
        }
        return Redirect($"/jobs/{Uri.EscapeDataString(Id)}");
    }
}
