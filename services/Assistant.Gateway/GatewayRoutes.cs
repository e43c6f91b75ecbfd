using Yarp.ReverseProxy.Configuration;

namespace Assistant.Gateway;

/// <summary>
/// The one front door: <c>/api</c> to the training API, <c>/v1</c> and <c>/generate</c> to inference,
/// everything else to the web app. Destinations are service names resolved by service discovery.
/// </summary>
public static class GatewayRoutes
{
    private const string TrainingApi = "training-api";
    private const string Inference = "inference";
    private const string Web = "web";

    public static IReadOnlyList<RouteConfig> Routes { get; } =
    [
        Route("api", TrainingApi, "/api/{**rest}", order: 1),
        Route("openai", Inference, "/v1/{**rest}", order: 1),
        Route("generate", Inference, "/generate", order: 1),
        // Catch-all last: the web app serves pages and static files.
        Route("web", Web, "/{**rest}", order: 100),
    ];

    public static IReadOnlyList<ClusterConfig> Clusters { get; } =
    [
        // A multi-GB dataset upload is validated and stored before the API answers; no bytes flow meanwhile.
        Cluster(TrainingApi, idleTimeout: TimeSpan.FromMinutes(30)),
        Cluster(Inference),
        Cluster(Web),
    ];

    private static RouteConfig Route(string id, string cluster, string path, int order) => new()
    {
        RouteId = id,
        ClusterId = cluster,
        Order = order,
        Match = new RouteMatch { Path = path },
    };

    private static ClusterConfig Cluster(string service, TimeSpan? idleTimeout = null) => new()
    {
        ClusterId = service,
        HttpRequest = idleTimeout is null ? null : new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = idleTimeout },
        Destinations = new Dictionary<string, DestinationConfig>
        {
            [service] = new() { Address = $"http://{service}" },
        },
    };
}
