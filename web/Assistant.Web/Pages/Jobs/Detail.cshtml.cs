using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Jobs;

public sealed class DetailModel(PlatformApi api, EventStreamRelay relay) : PageModel
{
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
