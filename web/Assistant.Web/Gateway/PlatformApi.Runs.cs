using System.Text.Json.Nodes;

namespace Assistant.Web.Gateway;

/// <summary>Comparing runs, sweeps, evaluations, and alerts with their webhooks.</summary>
public sealed partial class PlatformApi
{
    public Task<JobComparison> CompareJobsAsync(IEnumerable<string> ids, IEnumerable<string> keys, CancellationToken ct) =>
        GetAsync<JobComparison>($"api/jobs/compare?ids={string.Join(',', ids.Select(Escape))}&keys={string.Join(',', keys)}", ct);

    public Task<Sweep> CreateSweepAsync(JsonObject body, CancellationToken ct) => SendAsync<Sweep>(HttpMethod.Post, "api/sweeps/", body, ct);

    public Task<Sweep> GetSweepAsync(Guid id, CancellationToken ct) => GetAsync<Sweep>($"api/sweeps/{id}", ct);

    public Task<Evaluation> EvaluateJobAsync(string jobId, string dataset, CancellationToken ct) =>
        SendAsync<Evaluation>(HttpMethod.Post, $"api/jobs/{Escape(jobId)}/evaluate", new { dataset }, ct);

    public Task<Evaluation> GetEvaluationAsync(string id, CancellationToken ct) => GetAsync<Evaluation>($"api/evaluations/{Escape(id)}", ct);

    public Task<ApiList<Evaluation>> ListEvaluationsAsync(string jobId, CancellationToken ct) => GetAsync<ApiList<Evaluation>>($"api/jobs/{Escape(jobId)}/evaluations", ct);

    /// <summary>Registers a finished job's checkpoint as the next version of <paramref name="model"/>.</summary>
    public Task<ModelVersion> RegisterCheckpointAsync(string model, string jobId, int step, CancellationToken ct) =>
        SendAsync<ModelVersion>(HttpMethod.Post, $"api/models/{Escape(model)}/versions", new { job_id = jobId, step }, ct);

    public Task<ApiList<AlertEntry>> ListAlertsAsync(bool? acknowledged, string? kind, string? after, int limit, CancellationToken ct) =>
        GetAsync<ApiList<AlertEntry>>($"api/alerts/?limit={limit}{Query("acknowledged", acknowledged?.ToString().ToLowerInvariant())}{Query("kind", kind)}{Query("after", after)}", ct);

    public Task<AlertEntry> AcknowledgeAlertAsync(long id, CancellationToken ct) => SendAsync<AlertEntry>(HttpMethod.Post, $"api/alerts/{id}/acknowledge", null, ct);

    public Task<ApiList<Webhook>> ListWebhooksAsync(CancellationToken ct) => GetAsync<ApiList<Webhook>>("api/alerts/webhooks", ct);

    public Task<Webhook> CreateWebhookAsync(string? url, IReadOnlyList<string> kinds, string? secret, CancellationToken ct) =>
        SendAsync<Webhook>(HttpMethod.Post, "api/alerts/webhooks", new { url, kinds, secret }, ct);

    /// <summary>Deletes a webhook; the API answers 204 with no body.</summary>
    public Task DeleteWebhookAsync(Guid id, CancellationToken ct) => SendAsync(HttpMethod.Delete, $"api/alerts/webhooks/{id}", ct);
}
