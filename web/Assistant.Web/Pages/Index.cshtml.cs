using Assistant.Web.Gateway;
using Assistant.Web.Pages.Shared;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

public sealed record ActiveJobView(string Id, string Status, string Title, int Step, int TotalSteps, double? Progress, IReadOnlyList<double> Loss, double? LastLoss);

public sealed record WorkerView(
    string Id, string Hostname, string State, string? CurrentJobId, double CpuPercent, string Memory, double MemoryFraction, string Gpu, DateTimeOffset LastHeartbeatAt);

public sealed record AliasView(string Model, string Alias, int Version, string? Serving);

public sealed record AlertView(long Id, string Severity, string Subject, string Message, string? JobId, DateTimeOffset CreatedAt);

/// <summary>One section of the dashboard: its rows, or why they could not be read (the other sections still show).</summary>
public sealed record Section<T>(IReadOnlyList<T> Items, string? Error);

public sealed record DashboardView(
    Section<ActiveJobView> Jobs, Section<WorkerView> Workers, Section<AliasView> Aliases, bool ReplicasKnown, Section<AlertView> Alerts,
    PlatformStatus Status);

public sealed class IndexModel(PlatformApi api, PlatformClient platform) : PageModel
{
    private const int SparklineJobs = 8;

    public DashboardView View { get; private set; } = null!;

    public async Task OnGetAsync(CancellationToken ct) => View = await ReadAsync(ct);

    /// <summary>The dashboard as JSON, polled by dashboard.js to stay live without a reload.</summary>
    public async Task<JsonResult> OnGetLiveAsync(CancellationToken ct) => new(await ReadAsync(ct));

    private async Task<DashboardView> ReadAsync(CancellationToken ct)
    {
        var jobs = SectionAsync(ActiveJobsAsync(ct));
        var workers = SectionAsync(WorkersAsync(ct));
        var aliases = AliasesAsync(ct);
        var alerts = SectionAsync(AlertsAsync(ct));
        var status = platform.GetStatusAsync(ct);
        var (aliasSection, replicasKnown) = await aliases;
        return new DashboardView(await jobs, await workers, aliasSection, replicasKnown, await alerts, await status);
    }

    private async Task<IReadOnlyList<ActiveJobView>> ActiveJobsAsync(CancellationToken ct)
    {
        var running = api.ListJobsAsync("running", null, 20, ct);
        var queued = api.ListJobsAsync("queued", null, 20, ct);
        var validating = api.ListJobsAsync("validating_files", null, 20, ct);
        var jobs = (await running).Data.Concat((await queued).Data).Concat((await validating).Data).ToList();
        var losses = await Task.WhenAll(jobs.Select(async (job, i) =>
        {
            if (job.Status != "running" || i >= SparklineJobs)
            {
                return (IReadOnlyList<double>)[];
            }
            var metrics = await api.GetMetricsAsync(job.Id, ["train_loss"], ct);
            return metrics.Series.TryGetValue("train_loss", out var loss) ? Svg.Thin(loss.Values) : [];
        }));
        return jobs.Select((job, i) => new ActiveJobView(job.Id, job.Status, $"{job.Suffix ?? job.BaseModel} · {job.Method}",
            job.Step, job.TotalSteps, job.Progress, losses[i], losses[i].Count > 0 ? losses[i][^1] : null)).ToList();
    }

    private async Task<IReadOnlyList<WorkerView>> WorkersAsync(CancellationToken ct) =>
        (await api.ListWorkersAsync(ct)).Data.Where(w => w.State != "stopped").Select(w => new WorkerView(
            w.Id, w.Hostname, w.State, w.CurrentJobId, Math.Round(w.CpuPercent, 1),
            $"{Format.Bytes(w.HostMemoryUsedBytes)} of {Format.Bytes(w.HostMemoryTotalBytes)} (process {Format.Bytes(w.RssBytes)})",
            w.HostMemoryTotalBytes > 0 ? (double)w.HostMemoryUsedBytes / w.HostMemoryTotalBytes : 0,
            w.GpuMemoryTotalBytes is { } total
                ? $"{Format.Number(w.GpuUtilizationPercent)}% · {Format.Bytes(w.GpuMemoryUsedBytes ?? 0)} of {Format.Bytes(total)}"
                : $"none ({w.Device})",
            w.LastHeartbeatAt)).ToList();

    /// <summary>Every alias with its version, and what the replicas serve where the API reports it (<c>/api/deployments</c>).</summary>
    private async Task<(Section<AliasView>, bool ReplicasKnown)> AliasesAsync(CancellationToken ct)
    {
        try
        {
            var models = api.ListModelsAsync(ct);
            var deployments = api.ListDeploymentsAsync(ct);
            var served = (await deployments)?.Data.ToDictionary(d => (d.Model, d.Alias));
            var rows = (await models).Data
                .SelectMany(m => m.Aliases.OrderBy(a => a.Key, StringComparer.Ordinal).Select(a => new AliasView(m.Name, a.Key, a.Value,
                    served is null ? null : served.TryGetValue((m.Name, a.Key), out var d) ? Serving(d) : "not followed by inference")))
                .Where(a => a.Alias != "latest")
                .ToList();
            return (new Section<AliasView>(rows, null), served is not null);
        }
        catch (GatewayProblem problem)
        {
            return (new Section<AliasView>([], problem.Detail), false);
        }
    }

    private static string Serving(Deployment d)
    {
        var live = d.Replicas.Count;
        var current = d.Replicas.Count(r => r.Version == d.Version);
        return live == 0 ? "no replica running" : d.Converged ? $"served by {live} of {live} replicas" : $"{current} of {live} replicas serve it so far";
    }

    private async Task<IReadOnlyList<AlertView>> AlertsAsync(CancellationToken ct) =>
        (await api.ListOpenAlertsAsync(10, ct)).Data.Select(a => new AlertView(a.Id, a.Severity, a.Subject, a.Message, a.JobId, a.CreatedAt)).ToList();

    private static async Task<Section<T>> SectionAsync<T>(Task<IReadOnlyList<T>> rows)
    {
        try
        {
            return new Section<T>(await rows, null);
        }
        catch (GatewayProblem problem)
        {
            return new Section<T>([], problem.Detail);
        }
    }
}
