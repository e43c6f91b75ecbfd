using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Assistant.Web.Gateway;

/// <summary>
/// The gateway's API as the pages use it, with the signed-in user's key (<see cref="GatewayKeyHandler"/>). Every
/// refusal is a <see cref="GatewayProblem"/> carrying the API's own words. Each area's calls beyond jobs and models live in
/// their own part (<c>PlatformApi.{Area}.cs</c>).
/// </summary>
public sealed partial class PlatformApi(HttpClient http)
{
    /// <summary>Whether the gateway accepts <paramref name="key"/>: null when it does, else its refusal.</summary>
    public async Task<GatewayProblem?> CheckKeyAsync(string key, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/models/");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        try
        {
            using var response = await http.SendAsync(request, ct);
            return response.IsSuccessStatusCode ? null : await GatewayProblem.ReadAsync(response, ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or Polly.ExecutionRejectedException)
        {
            return GatewayProblem.Unreachable(ex);
        }
    }

    public Task<ApiList<Job>> ListJobsAsync(string? status, string? after, int limit, CancellationToken ct) =>
        GetAsync<ApiList<Job>>($"api/jobs/?limit={limit}{Query("status", status)}{Query("after", after)}", ct);

    public Task<Job> GetJobAsync(string id, CancellationToken ct) => GetAsync<Job>($"api/jobs/{Escape(id)}", ct);

    public Task<Job> CreateJobAsync(JsonObject body, CancellationToken ct) => SendAsync<Job>(HttpMethod.Post, "api/jobs/", body, ct);

    public Task<Job> CancelJobAsync(string id, CancellationToken ct) => SendAsync<Job>(HttpMethod.Post, $"api/jobs/{Escape(id)}/cancel", null, ct);

    public Task<Deployed> DeployAsync(string jobId, string alias, CancellationToken ct) =>
        SendAsync<Deployed>(HttpMethod.Post, $"api/deploy/{Escape(jobId)}?alias={Uri.EscapeDataString(alias)}", null, ct);

    public Task<ApiList<JobEvent>> ListEventsAsync(string id, int limit, CancellationToken ct) =>
        GetAsync<ApiList<JobEvent>>($"api/jobs/{Escape(id)}/events?limit={limit}", ct);

    public Task<ApiList<Checkpoint>> ListCheckpointsAsync(string id, CancellationToken ct) =>
        GetAsync<ApiList<Checkpoint>>($"api/jobs/{Escape(id)}/checkpoints", ct);

    public Task<JobMetrics> GetMetricsAsync(string id, IEnumerable<string> keys, CancellationToken ct) =>
        GetAsync<JobMetrics>($"api/jobs/{Escape(id)}/metrics?keys={string.Join(',', keys)}", ct);

    public Task<ApiList<Worker>> ListWorkersAsync(CancellationToken ct) => GetAsync<ApiList<Worker>>("api/workers/", ct);

    public Task<ApiList<ModelSummary>> ListModelsAsync(CancellationToken ct) => GetAsync<ApiList<ModelSummary>>("api/models/", ct);

    public Task<Model> GetModelAsync(string name, CancellationToken ct) => GetAsync<Model>($"api/models/{Escape(name)}", ct);

    public Task<AliasMove> MoveAliasAsync(string model, string alias, int version, string? reason, CancellationToken ct) =>
        SendAsync<AliasMove>(HttpMethod.Put, $"api/models/{Escape(model)}/aliases/{Escape(alias)}", new { version, reason }, ct);

    public Task<List<DatasetSummary>> ListDatasetsAsync(CancellationToken ct) => GetAsync<List<DatasetSummary>>("api/datasets/", ct);

    public Task<ApiList<Alert>> ListOpenAlertsAsync(int limit, CancellationToken ct) =>
        GetAsync<ApiList<Alert>>($"api/alerts/?acknowledged=false&limit={limit}", ct);

    /// <summary>What inference serves per alias; null where the API has no such route yet (older platforms).</summary>
    public async Task<DeploymentList?> ListDeploymentsAsync(CancellationToken ct)
    {
        try
        {
            return await GetAsync<DeploymentList>("api/deployments", ct);
        }
        catch (GatewayProblem problem) when (problem.IsNotFound)
        {
            return null;
        }
    }

    /// <summary>The models inference serves now, with the version and alias behind each id (OpenAI's <c>GET /v1/models</c>).</summary>
    public Task<ServedModelList> ListServedModelsAsync(CancellationToken ct) => GetAsync<ServedModelList>("v1/models", ct);

    private async Task<T> GetAsync<T>(string path, CancellationToken ct) => await SendAsync<T>(HttpMethod.Get, path, null, ct);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var response = await SendCheckedAsync(method, path, body, ct);
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(GatewayJson.Options, ct)
                ?? throw new GatewayProblem((int)HttpStatusCode.BadGateway, "Empty answer", $"The gateway answered {path} with no content.");
        }
        catch (JsonException ex)
        {
            throw new GatewayProblem((int)HttpStatusCode.BadGateway, "Unexpected answer", $"The gateway's answer to {path} could not be read: {ex.Message}");
        }
    }

    /// <summary>A request whose answer has no body to read (204): only its refusal matters.</summary>
    private async Task SendAsync(HttpMethod method, string path, CancellationToken ct)
    {
        using var _ = await SendCheckedAsync(method, path, null, ct);
    }

    /// <summary>The gateway's successful answer to a request; every failure, on the way or from the API, a <see cref="GatewayProblem"/>.</summary>
    private async Task<HttpResponseMessage> SendCheckedAsync(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: GatewayJson.Options);
        }
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (Exception ex) when (ex is HttpRequestException or Polly.ExecutionRejectedException
            || ex is TaskCanceledException && !ct.IsCancellationRequested)
        {
            // Unreachable, or no answer within the resilience handler's timeouts.
            throw GatewayProblem.Unreachable(ex);
        }
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                throw await GatewayProblem.ReadAsync(response, ct);
            }
        }
        return response;
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private static string Query(string name, string? value) => string.IsNullOrEmpty(value) ? "" : $"&{name}={Uri.EscapeDataString(value)}";
}
