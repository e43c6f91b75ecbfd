using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.LoadBalancing;

namespace Assistant.Gateway;

/// <summary>
/// The one front door: <c>/api</c> to the training API, <c>/v1</c> and <c>/generate</c> to inference,
/// everything else to the web app. Destinations are service names resolved by service discovery; a name with
/// several endpoints (the inference replicas) becomes one destination per endpoint.
/// </summary>
public static class GatewayRoutes
{
    public const string ApiRoute = "api";
    public const string OpenAiRoute = "openai";
    public const string GenerateRoute = "generate";
    public const string WebRoute = "web";

    private const string TrainingApi = "training-api";
    private const string Inference = "inference";
    private const string Web = "web";

    public static IReadOnlyList<RouteConfig> Routes { get; } =
    [
        Route(ApiRoute, TrainingApi, "/api/{**rest}", order: 1),
        Route(OpenAiRoute, Inference, "/v1/{**rest}", order: 1),
        Route(GenerateRoute, Inference, "/generate", order: 1),
        // Catch-all last: the web app serves pages and static files.
        Route(WebRoute, Web, "/{**rest}", order: 100),
    ];

    public static IReadOnlyList<ClusterConfig> Clusters { get; } =
    [
        // A multi-GB dataset upload is validated and stored before the API answers; no bytes flow meanwhile.
        Cluster(TrainingApi) with { HttpRequest = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(30) } },
        Cluster(Inference) with
        {
            // Generation requests are long and uneven: send each to the less busy of two replicas.
            LoadBalancingPolicy = LoadBalancingPolicies.PowerOfTwoChoices,
            HealthCheck = new HealthCheckConfig
            {
                // A replica answers /health 503 while it loads its first model: it gets no traffic until ready.
                Active = new ActiveHealthCheckConfig
                {
                    Enabled = true,
                    Interval = TimeSpan.FromSeconds(5),
                    Timeout = TimeSpan.FromSeconds(3),
                    Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures,
                    Path = "/health",
                },
                // Connections refused or reset: out of rotation at once, probed back in after the reactivation period.
                Passive = new PassiveHealthCheckConfig
                {
                    Enabled = true,
                    Policy = HealthCheckConstants.PassivePolicy.TransportFailureRate,
                    ReactivationPeriod = TimeSpan.FromSeconds(10),
                },
            },
            // One failed probe is enough: a loading replica says so itself, and the next probe is 5 s away.
            Metadata = new Dictionary<string, string> { ["ConsecutiveFailuresHealthPolicy.Threshold"] = "1" },
        },
        Cluster(Web),
    ];

    private static RouteConfig Route(string id, string cluster, string path, int order) => new()
    {
        RouteId = id,
        ClusterId = cluster,
        Order = order,
        Match = new RouteMatch { Path = path },
    };

    private static ClusterConfig Cluster(string service) => new()
    {
        ClusterId = service,
        Destinations = new Dictionary<string, DestinationConfig>
        {
            [service] = new() { Address = $"http://{service}" },
        },
    };
}
