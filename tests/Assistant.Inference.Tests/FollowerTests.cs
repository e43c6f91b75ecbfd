using System.Text.Json;
using Assistant.Inference.Serving;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>The alias follower against an in-memory registry whose "downloads" copy local folders.</summary>
public sealed class FollowerTests : IDisposable
{
    readonly TempFolder temp = new();
    readonly Catalog catalog = new();
    readonly StandaloneHost standalone;
    readonly AliasFollower follower;

    public FollowerTests()
    {
        standalone = new StandaloneHost(new InferenceOptions { CacheDir = temp.Sub("cache"), PollSeconds = 600, ReplicaId = "replica-1" });
        follower = new AliasFollower(standalone.Host, catalog, Options.Create(standalone.Options), NullLogger<AliasFollower>.Instance);
    }

    ModelHost Host => standalone.Host;

    string Folder(string name, long seed) => TinyModel.Create(temp.Sub(name), seed: seed);

    string[] Cached() => Directory.EnumerateDirectories(temp.Sub("cache")).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public async Task It_serves_what_the_alias_points_at_swaps_when_it_moves_drops_what_it_leaves_and_prunes_the_cache()
    {
        catalog.Point("alpha", 1, Folder("alpha1", 1));
        catalog.Point("beta", 1, Folder("beta1", 2));
        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(["alpha@1", "beta@1"], Host.Served.Select(m => m.Info.Root));
        Assert.Equal(["alpha@1", "beta@1"], Cached());
        var alpha1 = Host.Find("alpha")!;
        Assert.Equal(("job", "starter@1", "starter", "ftjob-1"), (alpha1.Info.Lineage!.Source, alpha1.Info.Lineage.BaseModel, alpha1.Info.Lineage.BaseModelName, alpha1.Info.Lineage.JobId));

        catalog.Point("alpha", 2, Folder("alpha2", 3));
        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(["alpha@2", "beta@1"], Host.Served.Select(m => m.Info.Root));
        Assert.Equal(["alpha@2", "beta@1"], Cached());
        await alpha1.Unloaded.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(3, catalog.Downloads);

        catalog.Remove("beta");
        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(["alpha@2"], Host.Served.Select(m => m.Info.Root));
        Assert.Equal(["alpha"], Host.Names());
        Assert.Equal(["alpha@2"], Cached());
        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(3, catalog.Downloads); // nothing moved: nothing fetched
    }

    [Fact]
    public async Task A_version_that_fails_to_load_is_reported_the_old_one_serves_and_only_a_notice_retries_it()
    {
        catalog.Point("alpha", 1, Folder("alpha1", 1));
        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Host.MarkResolved();
        var broken = Directory.CreateDirectory(temp.Sub("broken")).FullName;
        File.WriteAllText(Path.Combine(broken, "config.json"), "{\"model_type\": \"llama\"}");
        catalog.Point("alpha", 2, broken);

        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(1, Host.Find("alpha")!.Info.Version);
        var status = Assert.Single(Host.Status());
        Assert.Equal(("alpha", 2, ModelHost.Failed, 1), (status.Name, status.Version, status.State, status.ServingVersion));
        Assert.False(string.IsNullOrWhiteSpace(status.Error));
        Assert.True(Host.IsReady, "the old version still serves, so the replica stays ready");
        Assert.Equal(2, catalog.Downloads);

        await follower.RefreshAsync(new HashSet<string>(), Cancel);
        Assert.Equal(2, catalog.Downloads); // the poll does not fetch a broken version again
        await follower.RefreshAsync(new HashSet<string> { "alpha" }, Cancel);
        Assert.Equal(3, catalog.Downloads); // a deployment notice for the model does

        // What GET /api/deployments reads for this replica.
        var state = JsonDocument.Parse(new ReplicaState(Host, null!, Options.Create(standalone.Options), NullLogger<ReplicaState>.Instance).Snapshot()).RootElement;
        Assert.Equal("replica-1", state.GetProperty("replica").GetString());
        Assert.Equal("production", state.GetProperty("alias").GetString());
        Assert.True(state.GetProperty("updated_at").GetDateTimeOffset() >= state.GetProperty("started_at").GetDateTimeOffset());
        var model = Assert.Single(state.GetProperty("models").EnumerateArray());
        Assert.Equal(("alpha", 2, "failed", 1), (model.GetProperty("name").GetString(), model.GetProperty("version").GetInt32(), model.GetProperty("state").GetString(), model.GetProperty("serving_version").GetInt32()));
        Assert.NotEqual(JsonValueKind.Null, model.GetProperty("loaded_at").ValueKind);
        Assert.False(string.IsNullOrEmpty(model.GetProperty("error").GetString()));
        Assert.Equal((0, 0), (state.GetProperty("running").GetInt32(), state.GetProperty("waiting").GetInt32()));
    }

    [Fact]
    public async Task A_deployment_notice_for_the_followed_alias_makes_it_look_at_once()
    {
        catalog.Point("alpha", 1, Folder("alpha1", 1));
        await follower.StartAsync(Cancel);
        try
        {
            await Wait.UntilAsync(() => Host.IsReady && Host.Find("alpha") is not null, "the first round loads alpha@1");
            catalog.Point("alpha", 2, Folder("alpha2", 2));
            follower.Notify("alpha", "staging", 2); // another alias: no reason to look
            follower.Notify("alpha", "production", 2);
            await Wait.UntilAsync(() => Host.Find("alpha")?.Info.Version == 2, "the notice brings alpha@2 long before the 600 s poll");
        }
        finally
        {
            await follower.StopAsync(Cancel);
        }
    }

    public void Dispose()
    {
        follower.Dispose();
        standalone.Dispose();
        temp.Dispose();
    }

    /// <summary>The registry as the follower sees it: alias targets, and downloads that copy a local folder.</summary>
    sealed class Catalog : IModelCatalog
    {
        readonly Dictionary<string, (int Version, string Folder)> aliases = [];
        int downloads;

        public int Downloads => Volatile.Read(ref downloads);

        public void Point(string model, int version, string folder)
        {
            lock (aliases) aliases[model] = (version, folder);
        }

        public void Remove(string model)
        {
            lock (aliases) aliases.Remove(model);
        }

        public Task<IReadOnlyList<CatalogVersion>> ResolveAsync(string alias, IReadOnlyList<string> models, CancellationToken cancellationToken)
        {
            lock (aliases)
            {
                IReadOnlyList<CatalogVersion> found = aliases.Where(a => models.Count == 0 || models.Contains(a.Key)).OrderBy(a => a.Key)
                    .Select(a => new CatalogVersion(new ModelVersionInfo(a.Key, a.Value.Version, alias, DateTimeOffset.UtcNow,
                        new ModelLineage("job", "starter@1", "starter", "ftjob-1", null)), a.Value.Folder))
                    .ToList();
                return Task.FromResult(found);
            }
        }

        public Task<CatalogVersion?> FindAsync(string reference, CancellationToken cancellationToken) => Task.FromResult<CatalogVersion?>(null);

        public Task DownloadAsync(CatalogVersion version, string folder, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref downloads);
            Directory.CreateDirectory(folder);
            foreach (var file in Directory.EnumerateFiles(version.ArtifactPrefix))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            return Task.CompletedTask;
        }
    }
}
