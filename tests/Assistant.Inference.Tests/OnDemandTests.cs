using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Inference.Serving;
using Assistant.Modeling;
using Assistant.Tokenization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>
/// Versions the replica does not serve, loaded when a request names them: the real app in registry mode following
/// production, over an in-memory registry whose "downloads" copy local folders (the end-to-end tests use the real one).
/// </summary>
public sealed class OnDemandTests : IAsyncDisposable
{
    const int MaxTokens = 24;
    readonly TempFolder temp = new();
    readonly FolderCatalog catalog = new();
    InferenceServer? server;

    string Folder(string name, long seed) => TinyModel.Create(temp.Sub(name), seed: seed);

    /// <summary>alpha: production on version 1, versions 2..<paramref name="versions"/> registered and not deployed.</summary>
    async Task<InferenceServer> StartAsync(int versions = 2, int capacity = 2, double idleSeconds = 600, double retrySeconds = 60)
    {
        for (var v = 1; v <= versions; v++) catalog.Add("alpha", v, Folder($"alpha{v}", seed: v));
        catalog.Point("alpha", "production", 1);
        server = await InferenceServer.StartWithCatalogAsync(catalog, temp.Sub("cache"), new Dictionary<string, string?>
        {
            ["Inference:OnDemandCapacity"] = capacity.ToString(),
            ["Inference:OnDemandIdleSeconds"] = idleSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Inference:OnDemandRetrySeconds"] = retrySeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        await Wait.UntilAsync(() => server.Host.Find("alpha") is not null, "alpha@1 is served for production");
        return server;
    }

    OnDemandModels OnDemand => server!.Services.GetRequiredService<OnDemandModels>();

    string Expected(int version, string user)
    {
        using var model = LoadedModel.Load(temp.Sub($"alpha{version}"));
        return new TextGenerator(model).Chat([ChatMessage.FromUser(user)], new TextGenerationOptions { Sampling = SamplingOptions.Greedy(MaxTokens) }, Cancel).Text;
    }

    async Task<(HttpResponseMessage Response, JsonElement Body)> ChatAsync(string model, string user = "Where is my parcel?") =>
        await PostAsync(server!.Client, "/v1/chat/completions",
            new { model, messages = new[] { new { role = "user", content = user } }, max_tokens = MaxTokens, temperature = 0 });

    static string Version(HttpResponseMessage response) => response.Headers.GetValues("X-Model-Version").Single();

    static string Reply(JsonElement body) => body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;

    [Fact]
    public async Task A_version_not_deployed_answers_by_name_at_version_as_it_would_loaded_on_its_own_streamed_or_not()
    {
        await StartAsync();
        var expected = Expected(2, "Where is my parcel?");
        Assert.NotEqual(Expected(1, "Where is my parcel?"), expected);

        var (response, body) = await ChatAsync("alpha@2");
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.GetRawText());
        Assert.Equal("alpha@2", Version(response));
        Assert.Equal("alpha@2", body.GetProperty("system_fingerprint").GetString());
        Assert.Equal(expected, Reply(body));

        // Streamed: the same text, chunk by chunk, from the version already loaded.
        using var streamed = await server!.Client.PostAsync("/v1/chat/completions", new StringContent(JsonSerializer.Serialize(new
        {
            model = "alpha@2", messages = new[] { new { role = "user", content = "Where is my parcel?" } }, max_tokens = MaxTokens, temperature = 0, stream = true,
        }), System.Text.Encoding.UTF8, "application/json"), Cancel);
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        var text = string.Concat((await EventsAsync(streamed)).Where(e => e != "[DONE]")
            .Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")).Where(c => c.GetArrayLength() > 0)
            .Select(c => c[0].GetProperty("delta").TryGetProperty("content", out var content) ? content.GetString() : ""));
        Assert.Equal(expected, text);

        // Production is untouched; the on-demand version is listed by name@N while it is loaded, and reported as on_demand.
        var (production, answer) = await ChatAsync("alpha");
        Assert.Equal("alpha@1", Version(production));
        Assert.Equal(Expected(1, "Where is my parcel?"), Reply(answer));
        var models = await server.Client.GetFromJsonAsync<JsonElement>("/v1/models", Cancel);
        Assert.Equal(["alpha", "alpha@2"], models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        var health = await server.Client.GetFromJsonAsync<JsonElement>("/health", Cancel);
        var onDemand = Assert.Single(health.GetProperty("on_demand").EnumerateArray());
        Assert.Equal(("alpha", 2, "on_demand"), (onDemand.GetProperty("name").GetString(), onDemand.GetProperty("version").GetInt32(), onDemand.GetProperty("state").GetString()));
        Assert.Equal(["alpha@1"], health.GetProperty("models").EnumerateArray().Select(m => $"{m.GetProperty("name").GetString()}@{m.GetProperty("version").GetInt32()}"));
        var state = JsonDocument.Parse(new ReplicaState(server.Host, null!, server.Services.GetRequiredService<IOptions<InferenceOptions>>(),
            NullLogger<ReplicaState>.Instance, OnDemand).Snapshot()).RootElement;
        Assert.Equal("on_demand", Assert.Single(state.GetProperty("on_demand").EnumerateArray()).GetProperty("state").GetString());
        Assert.Single(state.GetProperty("models").EnumerateArray());
        Assert.Equal(1, catalog.Downloads("alpha@2"));
    }

    [Fact]
    public async Task Another_alias_resolves_in_the_registry_and_the_followed_alias_keeps_serving_what_it_follows()
    {
        await StartAsync(versions: 3);
        catalog.Point("alpha", "staging", 3);

        var (staging, body) = await ChatAsync("alpha:staging");
        Assert.True(staging.StatusCode == HttpStatusCode.OK, body.GetRawText());
        Assert.Equal("alpha@3", Version(staging));
        Assert.Equal(Expected(3, "Where is my parcel?"), Reply(body));

        var (production, _) = await ChatAsync("alpha:production");
        Assert.Equal("alpha@1", Version(production));
        var (served, _) = await ChatAsync("alpha@1");
        Assert.Equal("alpha@1", Version(served));
        Assert.Equal(["alpha@3"], OnDemand.Loaded.Select(m => m.Info.Root)); // production and @1 were not loaded again

        // staging moves onto the served version: it answers from production's copy, loading nothing.
        catalog.Point("alpha", "staging", 1);
        var (moved, _) = await ChatAsync("alpha:staging");
        Assert.Equal("alpha@1", Version(moved));
        Assert.Equal(1, catalog.Downloads("alpha@1")); // the follower's, at start
    }

    [Fact]
    public async Task A_full_replica_evicts_the_least_recently_used_version_with_no_request_in_flight()
    {
        await StartAsync(versions: 5, capacity: 2);
        var held = (await OnDemand.LeaseAsync("alpha@2", Cancel)).Lease!; // a request in flight on alpha@2, used first
        var (three, _) = await ChatAsync("alpha@3");
        Assert.Equal("alpha@3", Version(three));
        var alpha3 = OnDemand.Loaded.Single(m => m.Info.Version == 3);

        var (four, body) = await ChatAsync("alpha@4");
        Assert.True(four.StatusCode == HttpStatusCode.OK, body.GetRawText());
        Assert.Equal(Expected(4, "Where is my parcel?"), Reply(body));
        Assert.Equal(["alpha@2", "alpha@4"], OnDemand.Loaded.Select(m => m.Info.Root)); // alpha@2 is older but busy
        await alpha3.Unloaded.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Equal(["alpha@2", "alpha@4"], Directory.EnumerateDirectories(temp.Sub(Path.Combine("cache", OnDemandModels.CacheFolder))).Select(Path.GetFileName).Order());

        // Both places busy: a third version is refused with a clear 503, and what is loaded keeps serving.
        var alsoHeld = (await OnDemand.LeaseAsync("alpha@4", Cancel)).Lease!;
        var (refused, error) = await ChatAsync("alpha@5");
        OpenAiError(refused, error, 503, null, "model_unavailable", type: "server_error");
        Assert.Contains("alpha@5", error.GetProperty("error").GetProperty("message").GetString());
        alsoHeld.Dispose();
        held.Dispose();
        var (five, _) = await ChatAsync("alpha@5");
        Assert.Equal("alpha@5", Version(five));
        Assert.Equal(2, OnDemand.Loaded.Count);
        var (production, _) = await ChatAsync("alpha");
        Assert.Equal("alpha@1", Version(production));
    }

    [Fact]
    public async Task Concurrent_requests_for_one_version_share_one_load_and_an_idle_version_is_unloaded()
    {
        await StartAsync(idleSeconds: 1);
        catalog.DownloadDelay = TimeSpan.FromMilliseconds(500); // every request arrives while the first load is under way
        var expected = Expected(2, "Where is my parcel?");

        var replies = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => ChatAsync("alpha@2")));
        foreach (var (response, body) in replies)
        {
            Assert.True(response.StatusCode == HttpStatusCode.OK, body.GetRawText());
            Assert.Equal(expected, Reply(body));
        }
        Assert.Equal(1, catalog.Downloads("alpha@2"));
        var loaded = Assert.Single(OnDemand.Loaded);

        await loaded.Unloaded.WaitAsync(TimeSpan.FromSeconds(20), Cancel);
        Assert.Empty(OnDemand.Loaded);
        var models = await server!.Client.GetFromJsonAsync<JsonElement>("/v1/models", Cancel);
        Assert.Equal(["alpha"], models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Unknown_versions_aliases_and_models_are_404_naming_the_model_and_a_broken_version_is_a_clear_503()
    {
        await StartAsync();
        foreach (var model in new[] { "alpha@9", "alpha:canary", "nosuch@1", "nosuch:staging", "nosuch" })
        {
            var (response, body) = await ChatAsync(model);
            OpenAiError(response, body, 404, "model", "model_not_found");
            Assert.Contains($"'{model}'", body.GetProperty("error").GetProperty("message").GetString());
        }
        var generate = await PostAsync(server!.Client, "/generate", new { prompt = "hi", model = "alpha@9" });
        Assert.Equal(HttpStatusCode.NotFound, generate.Response.StatusCode);

        var broken = Directory.CreateDirectory(temp.Sub("broken")).FullName;
        File.WriteAllText(Path.Combine(broken, "config.json"), "{\"model_type\": \"llama\"}");
        catalog.Add("alpha", 7, broken);
        var (failed, error) = await ChatAsync("alpha@7");
        OpenAiError(failed, error, 503, null, "model_unavailable", type: "server_error");
        Assert.Contains("alpha@7 could not be loaded", error.GetProperty("error").GetProperty("message").GetString());
        Assert.Empty(OnDemand.Loaded);
        var (production, _) = await ChatAsync("alpha");
        Assert.Equal("alpha@1", Version(production));
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/health", Cancel)).StatusCode);
    }

    [Fact]
    public async Task A_version_that_failed_to_load_is_refused_at_once_until_its_retry_time_and_then_loads_once_the_cause_is_gone()
    {
        const double retrySeconds = 3;
        await StartAsync(retrySeconds: retrySeconds);
        var flaky = Directory.CreateDirectory(temp.Sub("flaky")).FullName;
        File.WriteAllText(Path.Combine(flaky, "config.json"), "{\"model_type\": \"llama\"}");
        catalog.Add("alpha", 5, flaky);

        var (failed, error) = await ChatAsync("alpha@5");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        OpenAiError(failed, error, 503, null, "model_unavailable", type: "server_error");
        var (again, againError) = await ChatAsync("alpha@5");
        OpenAiError(again, againError, 503, null, "model_unavailable", type: "server_error");
        var message = againError.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("alpha@5 could not be loaded", message);
        Assert.Contains("tried again from", message);
        Assert.Equal(1, catalog.Downloads("alpha@5")); // refused from memory, not downloaded and loaded again
        Assert.True(clock.Elapsed.TotalSeconds < retrySeconds, "the second request came within the retry time");

        // The cause goes away (as when the object store was unreachable): the first request after the retry time loads it.
        foreach (var file in Directory.EnumerateFiles(Folder("fixed", seed: 5))) File.Copy(file, Path.Combine(flaky, Path.GetFileName(file)), overwrite: true);
        await Task.Delay(TimeSpan.FromSeconds(retrySeconds) - clock.Elapsed + TimeSpan.FromMilliseconds(200), Cancel);
        var (loaded, body) = await ChatAsync("alpha@5");
        Assert.Equal(HttpStatusCode.OK, loaded.StatusCode);
        Assert.Equal("alpha@5", Version(loaded));
        Assert.Equal(2, catalog.Downloads("alpha@5"));
        Assert.False(string.IsNullOrEmpty(Reply(body)));
    }

    public async ValueTask DisposeAsync()
    {
        if (server is not null) await server.DisposeAsync();
        temp.Dispose();
    }

    /// <summary>A registry in memory: versions in local folders, aliases pointing at them; downloads copy the folder.</summary>
    sealed class FolderCatalog : IModelCatalog
    {
        readonly Dictionary<string, string> folders = []; // name@N -> folder
        readonly Dictionary<string, int> aliases = [];    // name:alias -> version
        readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> downloads = new();

        public TimeSpan DownloadDelay { get; set; }

        public int Downloads(string root) => downloads.GetValueOrDefault(root);

        public void Add(string name, int version, string folder)
        {
            lock (folders) folders[$"{name}@{version}"] = folder;
        }

        public void Point(string name, string alias, int version)
        {
            lock (folders) aliases[$"{name}:{alias}"] = version;
        }

        CatalogVersion Version(string name, int version, string? alias) =>
            new(new ModelVersionInfo(name, version, alias, DateTimeOffset.UtcNow, new ModelLineage("job", "starter@1", "starter", $"ftjob-{version}", null)), folders[$"{name}@{version}"]);

        public Task<IReadOnlyList<CatalogVersion>> ResolveAsync(string alias, IReadOnlyList<string> models, CancellationToken cancellationToken)
        {
            lock (folders)
            {
                IReadOnlyList<CatalogVersion> found = aliases.Where(a => a.Key.EndsWith($":{alias}")).Select(a => Version(a.Key.Split(':')[0], a.Value, alias)).ToList();
                return Task.FromResult(found);
            }
        }

        public Task<CatalogVersion?> FindAsync(string reference, CancellationToken cancellationToken)
        {
            lock (folders)
            {
                if (aliases.TryGetValue(reference, out var pointed)) return Task.FromResult<CatalogVersion?>(Version(reference.Split(':')[0], pointed, reference.Split(':')[1]));
                if (folders.ContainsKey(reference)) return Task.FromResult<CatalogVersion?>(Version(reference.Split('@')[0], int.Parse(reference.Split('@')[1]), null));
                return Task.FromResult<CatalogVersion?>(null);
            }
        }

        public async Task DownloadAsync(CatalogVersion version, string folder, CancellationToken cancellationToken)
        {
            downloads.AddOrUpdate(version.Info.Root, 1, (_, n) => n + 1);
            await Task.Delay(DownloadDelay, cancellationToken);
            Directory.CreateDirectory(folder);
            foreach (var file in Directory.EnumerateFiles(version.ArtifactPrefix))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
    }
}
