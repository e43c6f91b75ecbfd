using System.Text.Json;
using Assistant.Web.Gateway;
using Assistant.Web.Pages.Shared;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

/// <summary>A run as drawn: its colour and dash pattern, so curves read apart without colour too.</summary>
public sealed record CompareRun(string Id, string Label, string Status, string Color, string Dash);

/// <summary>One metric's curves as the chart and its text alternative need them: per run, its points by step.</summary>
public sealed record CompareCurve(string Key, string Title, IReadOnlyList<int> Steps, IReadOnlyDictionary<string, IReadOnlyList<double?>> Series)
{
    /// <summary>A run's recorded points on this curve, in step order.</summary>
    public IReadOnlyList<(int Step, double Value)> Points(string run) =>
        Series.TryGetValue(run, out var values)
            ? Steps.Select((step, i) => (step, values[i])).Where(p => p.Item2 is { } v && double.IsFinite(v)).Select(p => (p.step, p.Item2!.Value)).ToList()
            : [];
}

public sealed class CompareModel(PlatformApi api) : PageModel
{
    public const int MostRuns = 10;
    private const int RecentJobs = 30;

    public static readonly (string Key, string Title)[] Curves = [("train_loss", "Train loss"), ("valid_loss", "Validation loss")];

    // A colour and a dash pattern per run, so no two runs look alike in colour or in grey.
    private static readonly string[] Colors = ["#3451b2", "#c2410c", "#047857", "#7c3aed", "#b45309", "#be185d", "#0e7490", "#4d7c0f", "#6b7280", "#1d2330"];
    private static readonly string[] Dashes = ["none", "9 4", "2 3", "12 3 3 3", "5 5", "1 5", "16 5", "6 2 2 2", "10 2", "3 7"];

    /// <summary>Runs to compare: <c>?ids=a,b,c</c> or one <c>ids</c> per ticked box.</summary>
    [BindProperty(SupportsGet = true)]
    public string[] Ids { get; set; } = [];

    /// <summary>The sweep the runs came from, when the new-job form sent them here.</summary>
    [BindProperty(SupportsGet = true, Name = "sweep")]
    public Guid? SweepId { get; set; }

    [TempData]
    public string? Notice { get; set; }

    public Sweep? FromSweep { get; private set; }

    public IReadOnlyList<string> Selected { get; private set; } = [];
    public IReadOnlyList<Job> Recent { get; private set; } = [];
    public IReadOnlyList<CompareRun> Runs { get; private set; } = [];
    public IReadOnlyDictionary<string, Job> Jobs { get; private set; } = new Dictionary<string, Job>();
    public JobComparison? Comparison { get; private set; }
    public IReadOnlyList<CompareCurve> CurveData { get; private set; } = [];
    public string? PickError { get; private set; }
    public string? Note { get; private set; }
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        Selected = RequestedIds();
        try
        {
            Recent = (await api.ListJobsAsync(null, null, RecentJobs, ct)).Data;
        }
        catch (GatewayProblem problem)
        {
            Error = $"The recent jobs could not be read: {problem.Detail}";
        }
        if (SweepId is { } sweep)
        {
            try
            {
                FromSweep = await api.GetSweepAsync(sweep, ct);
            }
            catch (GatewayProblem problem)
            {
                Error = $"Sweep {sweep} could not be read: {problem.Detail}";
            }
        }
        if (Selected.Count == 0)
        {
            return;
        }
        if (Selected.Count == 1)
        {
            PickError = "Pick at least two runs to compare.";
        }
        else if (Selected.Count > MostRuns)
        {
            Note = $"At most {MostRuns} runs compare at once: the first {MostRuns} are shown.";
            Selected = Selected.Take(MostRuns).ToList();
        }

        // The selected jobs, also those older than the recent list.
        var known = Recent.ToDictionary(j => j.Id);
        var jobs = new Dictionary<string, Job>();
        foreach (var id in Selected)
        {
            try
            {
                jobs[id] = known.TryGetValue(id, out var job) ? job : await api.GetJobAsync(id, ct);
            }
            catch (GatewayProblem problem)
            {
                PickError = problem.IsNotFound ? $"Job '{id}' was not found." : problem.Detail;
            }
        }
        Jobs = jobs;
        Runs = Selected.Where(jobs.ContainsKey).Select((id, i) =>
            new CompareRun(id, jobs[id].Suffix is { } suffix ? $"{id} ({suffix})" : id, jobs[id].Status, Colors[i % Colors.Length], Dashes[i % Dashes.Length])).ToList();
        if (Runs.Count < 2 || PickError is not null)
        {
            return;
        }
        try
        {
            Comparison = await api.CompareJobsAsync(Runs.Select(r => r.Id), Curves.Select(c => c.Key), ct);
            CurveData = Curves.Select(c => Comparison.Metrics.TryGetValue(c.Key, out var s)
                ? new CompareCurve(c.Key, c.Title, s.Steps, s.Series)
                : new CompareCurve(c.Key, c.Title, [], new Dictionary<string, IReadOnlyList<double?>>())).ToList();
        }
        catch (GatewayProblem problem)
        {
            PickError = problem.Detail;
        }
    }

    /// <summary>The curves and statuses again, polled while a compared run is still going.</summary>
    public async Task<IActionResult> OnGetDataAsync(CancellationToken ct)
    {
        var ids = RequestedIds().Take(MostRuns).ToList();
        try
        {
            var comparison = api.CompareJobsAsync(ids, Curves.Select(c => c.Key), ct);
            var statuses = await Task.WhenAll(ids.Select(async id => (id, (await api.GetJobAsync(id, ct)).Status)));
            return new JsonResult(new { metrics = (await comparison).Metrics, statuses = statuses.ToDictionary(s => s.id, s => s.Status) }, GatewayJson.Options);
        }
        catch (GatewayProblem problem)
        {
            return problem.ToResult();
        }
    }

    /// <summary>The job ids asked for, in order, once each: <c>ids=a,b</c> and repeated <c>ids</c> alike.</summary>
    private List<string> RequestedIds() =>
        Ids.SelectMany(i => i.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).Distinct().ToList();

    /// <summary>The final value of each metric the runs reported, in a stable order.</summary>
    public IReadOnlyList<string> FinalMetricKeys() =>
        Runs.SelectMany(r => Format.Metrics(Jobs[r.Id].Metrics).Select(m => m.Name)).Distinct().ToList();

    public double? FinalMetric(string run, string key) =>
        Jobs[run].Metrics is { ValueKind: JsonValueKind.Object } metrics && metrics.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetDouble() : null;
}
