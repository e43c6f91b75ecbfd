namespace Assistant.AppHost;

/// <summary>
/// Inference replicas as separate resources, each with its own address, instead of <c>WithReplicas</c>: Aspire puts
/// the replicas of one resource behind a single proxy address, so the gateway would see one destination and could
/// neither spread requests by load nor keep a replica that is loading a model out of rotation.
/// </summary>
internal static class InferenceReplicas
{
    public const string ServiceName = "inference";

    public static IReadOnlyList<IResourceBuilder<ProjectResource>> AddInferenceReplicas(this IDistributedApplicationBuilder builder, int count,
        Func<IResourceBuilder<ProjectResource>, IResourceBuilder<ProjectResource>> configure) =>
        [.. Enumerable.Range(1, count).Select(i => configure(builder.AddProject<Projects.Assistant_Inference>($"{ServiceName}-{i}")))];

    /// <summary>
    /// Service discovery entries <c>services__inference__http__N</c>, one per replica: <c>http://inference</c> then
    /// resolves to every replica, and the gateway's YARP cluster gets one destination (and one health probe) each.
    /// </summary>
    public static IResourceBuilder<T> WithInferenceReplicas<T>(this IResourceBuilder<T> builder, IReadOnlyList<IResourceBuilder<ProjectResource>> replicas)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        for (var i = 0; i < replicas.Count; i++)
        {
            builder.WithEnvironment($"services__{ServiceName}__http__{i}", replicas[i].GetEndpoint("http")).WaitFor(replicas[i]);
        }
        return builder;
    }
}
