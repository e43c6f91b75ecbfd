namespace Assistant.Web.Gateway;

/// <summary>The datasets API (<c>/api/datasets</c>): versions, examples, labelling commits, diffs and splits.</summary>
public sealed partial class PlatformApi
{
    public Task<DatasetDetail> GetDatasetAsync(string name, CancellationToken ct) => GetAsync<DatasetDetail>($"api/datasets/{Escape(name)}", ct);

    public Task<DatasetVersion> GetDatasetVersionAsync(string name, int version, CancellationToken ct) =>
        GetAsync<DatasetVersion>($"api/datasets/{Escape(name)}/versions/{version}", ct);

    public Task<DatasetExamplePage> ListExamplesAsync(string name, int version, long offset, int limit, string? search, CancellationToken ct) =>
        GetAsync<DatasetExamplePage>($"api/datasets/{Escape(name)}/versions/{version}/examples?offset={offset}&limit={limit}{Query("search", search)}", ct);

    public Task<DatasetVersion> CommitDatasetEditsAsync(string name, int version, string? message, IReadOnlyList<DatasetEdit> edits, CancellationToken ct) =>
        SendAsync<DatasetVersion>(HttpMethod.Post, $"api/datasets/{Escape(name)}/versions/{version}/commits", new { message, edits }, ct);

    public Task<DatasetDiff> DiffDatasetAsync(string name, int from, int to, CancellationToken ct) =>
        GetAsync<DatasetDiff>($"api/datasets/{Escape(name)}/diff?from={from}&to={to}", ct);

    public Task<DatasetSplit> SplitDatasetAsync(string name, int version, double[] ratios, int seed, CancellationToken ct) =>
        SendAsync<DatasetSplit>(HttpMethod.Post, $"api/datasets/{Escape(name)}/versions/{version}/splits", new { ratios, seed }, ct);
}
