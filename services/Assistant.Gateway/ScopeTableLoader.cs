using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Platform.Security;

namespace Assistant.Gateway;

/// <summary>
/// Loads the training API's scope table (<c>GET /api/scopes</c>, asked directly, not through the gateway) at start,
/// retrying until the API answers, then refreshes it every minute so a deployed API's new routes are enforced.
/// </summary>
public sealed class ScopeTableLoader(IHttpClientFactory clients, ScopeRules rules, ILogger<ScopeTableLoader> logger) : BackgroundService
{
    public const string TrainingApi = "http://training-api";
    private static readonly TimeSpan RefreshEvery = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(1);
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record ScopeList(List<RouteScope> Data);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var http = clients.CreateClient();
        http.BaseAddress = new Uri(TrainingApi);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var list = await http.GetFromJsonAsync<ScopeList>("/api/scopes", Json, stoppingToken)
                    ?? throw new InvalidOperationException("The scope table is empty.");
                var table = ScopeTable.Build(list.Data);
                if (!rules.Loaded)
                {
                    logger.LogInformation("Scope table loaded: {Count} routes", table.Count);
                }
                rules.Load(table);
                await Task.Delay(RefreshEvery, stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                // The previous table (if any) stays in force: a refresh that fails must not open or close routes.
                logger.Log(rules.Loaded ? LogLevel.Warning : LogLevel.Information, ex, "The training API's scope table could not be loaded; retrying");
                await Task.Delay(rules.Loaded ? RefreshEvery : RetryEvery, stoppingToken);
            }
        }
    }
}
