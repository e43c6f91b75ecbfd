using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Assistant.Inference.Apis;
using Assistant.Inference;
using Assistant.Inference.Serving;
using Assistant.Modeling;
using Assistant.Modeling.Training;
using Assistant.Tokenization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Assistant.Inference.Tests;

internal static class TestProcess
{
    /// <summary>One intra-op thread: tiny models gain nothing from two, and shared cores stall OpenMP (PLATFORM.md).</summary>
    [ModuleInitializer]
    internal static void Setup()
    {
        MachineInfo.PreferPassiveOpenMpWaits();
        TorchSharp.torch.set_num_threads(1);
    }
}

/// <summary>A temporary folder deleted when the test ends.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("assistant-inference-").FullName;
    public string Sub(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>
/// Tiny model folders with the starter byte tokenizer and a ChatML template: d=64, 2 layers (~110k parameters). The Llama head
/// is untied: a random tied head only echoes the last byte, which would make every comparison trivial.
/// </summary>
internal static class TinyModel
{
    /// <param name="neverEnds">Zero the head rows of the stop tokens, so greedy replies always run to max_tokens (requests that hold a slot).</param>
    public static string Create(string folder, long seed = 1, int context = 256, string architecture = "llama", bool neverEnds = false)
    {
        var json = architecture == "llama"
            ? new JsonObject
            {
                ["architectures"] = new JsonArray("LlamaForCausalLM"),
                ["model_type"] = "llama",
                ["vocab_size"] = StarterVocabulary.Size,
                ["hidden_size"] = 64,
                ["intermediate_size"] = 176,
                ["num_hidden_layers"] = 2,
                ["num_attention_heads"] = 4,
                ["num_key_value_heads"] = 2,
                ["max_position_embeddings"] = context,
                ["rms_norm_eps"] = 1e-5,
                ["tie_word_embeddings"] = false,
            }
            : new JsonObject
            {
                ["architectures"] = new JsonArray("GPT2LMHeadModel"),
                ["model_type"] = "gpt2",
                ["vocab_size"] = StarterVocabulary.Size,
                ["n_embd"] = 64,
                ["n_layer"] = 2,
                ["n_head"] = 4,
                ["n_positions"] = context,
                ["activation_function"] = "gelu_new",
                ["tie_word_embeddings"] = false,
            };
        json["bos_token_id"] = StarterVocabulary.Bos;
        json["eos_token_id"] = StarterVocabulary.Eos;
        json["pad_token_id"] = StarterVocabulary.Pad;
        using var model = HfCheckpoint.CreateUntrained(ModelConfig.Parse(json));
        using (var generator = new TorchSharp.torch.Generator((ulong)seed)) model.InitializeWeights(generator);
        if (neverEnds)
        {
            using var _ = TorchSharp.torch.no_grad();
            var head = model.named_parameters().First(p => p.name == "lm_head.weight").parameter;
            foreach (var stop in new[] { StarterVocabulary.Eos, StarterVocabulary.ImEnd }) head[stop].zero_();
        }
        model.GenerationConfig = new JsonObject
        {
            ["eos_token_id"] = new JsonArray(StarterVocabulary.Eos, StarterVocabulary.ImEnd),
            ["pad_token_id"] = StarterVocabulary.Pad,
        };
        HfCheckpoint.Save(model, folder, new HfSaveOptions { WriteExtraFiles = TokenizerLoader.WriteStarterTokenizer });
        return folder;
    }
}

/// <summary>
/// The real inference app, built as Program.cs builds it, on a loopback port in this process (static mode: one model folder,
/// no Postgres, S3 or Redis). Started once per fixture; waits until /health says ready.
/// </summary>
internal sealed class InferenceServer : IAsyncDisposable
{
    readonly WebApplication app;

    InferenceServer(WebApplication app, Uri address)
    {
        this.app = app;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }
    public HttpClient Client { get; }
    public ModelHost Host => app.Services.GetRequiredService<ModelHost>();
    public IServiceProvider Services => app.Services;

    public static WebApplication Build(IDictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ApplicationName = "Assistant.Inference" });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // As Program.cs:
        builder.AddServiceDefaults();
        builder.AddInference();
        configure?.Invoke(builder.Services);
        var app = builder.Build();
        app.UseExceptionHandler();
        app.MapDefaultEndpoints();
        app.MapPrometheusScrapingEndpoint();
        app.MapOpenAiApi();
        app.MapGenerateApi();
        return app;
    }

    public static Task<InferenceServer> StartAsync(string modelFolder, string modelName = "tiny", int maxBatch = 8, int queueLimit = 64) =>
        StartAsync(new Dictionary<string, string?>
        {
            ["Inference:ModelFolder"] = modelFolder,
            ["Inference:ModelName"] = modelName,
            ["Inference:MaxBatch"] = maxBatch.ToString(),
            ["Inference:QueueLimit"] = queueLimit.ToString(),
        });

    /// <summary>
    /// The app in registry mode over <paramref name="catalog"/> instead of Postgres and S3 (connection strings that point
    /// nowhere and are never dialled; no bucket is made), following the production alias; no Redis.
    /// </summary>
    public static Task<InferenceServer> StartWithCatalogAsync(IModelCatalog catalog, string cacheDir, IDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:assistantdb"] = "Host=127.0.0.1;Port=1;Database=none;Username=none;Password=none",
            ["ConnectionStrings:s3"] = "Endpoint=http://127.0.0.1:1;AccessKey=none;SecretKey=none",
            ["Inference:CacheDir"] = cacheDir,
            ["Inference:PollSeconds"] = "600",
            ["Inference:ReplicaId"] = "replica-1",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) all[key] = value;
        return StartAsync(all, services =>
        {
            services.AddSingleton(catalog);
            foreach (var bucket in services.Where(d => d.ServiceType == typeof(IHostedService) && d.ImplementationType?.Name == "BucketInitializer").ToList())
                services.Remove(bucket);
        });
    }

    public static async Task<InferenceServer> StartAsync(IDictionary<string, string?> settings, Action<IServiceCollection>? configure = null)
    {
        var app = Build(settings, configure);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var server = new InferenceServer(app, new Uri(address));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var health = await server.Client.GetAsync("/health");
            if (health.IsSuccessStatusCode) return server;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"/health never said ready: {await health.Content.ReadAsStringAsync()}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}

/// <summary>Calls and expectations the tests share.</summary>
internal static class Http
{
    public static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> PostAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body, Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        return (response, JsonDocument.Parse(text.Length == 0 ? "null" : text).RootElement.Clone());
    }

    public static async Task<(HttpResponseMessage Response, JsonElement Body)> PostRawAsync(HttpClient client, string path, string json)
    {
        var response = await client.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"), Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        return (response, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>The <c>data:</c> payloads of an event stream, in order.</summary>
    public static async Task<List<string>> EventsAsync(HttpResponseMessage response)
    {
        var events = new List<string>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(Cancel));
        while (await reader.ReadLineAsync(Cancel) is { } line)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line);
            events.Add(line["data: ".Length..]);
        }
        return events;
    }

    /// <summary>An OpenAI error body: status, type, param and code as given.</summary>
    public static void OpenAiError(HttpResponseMessage response, JsonElement body, int status, string? param, string? code = null, string type = "invalid_request_error")
    {
        Assert.Equal(status, (int)response.StatusCode);
        var error = body.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.DoesNotContain("   at ", body.GetRawText());
    }
}

/// <summary>Measurements of one <c>Assistant.Inference</c> counter, with their tags, as the app records them.</summary>
internal sealed class CounterWatch : IDisposable
{
    readonly System.Diagnostics.Metrics.MeterListener listener = new();
    readonly System.Collections.Concurrent.ConcurrentQueue<(long Value, Dictionary<string, object?> Tags)> seen = new();

    public CounterWatch(string instrument)
    {
        listener.InstrumentPublished = (i, l) =>
        {
            if (i.Meter.Name == InferenceTelemetry.Name && i.Name == instrument) l.EnableMeasurementEvents(i);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags) copy[tag.Key] = tag.Value;
            seen.Enqueue((value, copy));
        });
        listener.Start();
    }

    /// <summary>The sum of the measurements whose tags include every given pair.</summary>
    public long Sum(params (string Key, object Value)[] tags) =>
        seen.Where(m => tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && Equals(v?.ToString(), t.Value.ToString()))).Sum(m => m.Value);

    public void Dispose() => listener.Dispose();
}

internal static class Wait
{
    /// <summary>Polls until <paramref name="condition"/> holds; fails after <paramref name="seconds"/>.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, double seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>A model host on its own, outside the web app (no HTTP), with the app's telemetry.</summary>
internal sealed class StandaloneHost : IDisposable
{
    readonly ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    public StandaloneHost(InferenceOptions? options = null)
    {
        Options = options ?? new InferenceOptions();
        Telemetry = new InferenceTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        Host = new ModelHost(Microsoft.Extensions.Options.Options.Create(Options), Telemetry, Microsoft.Extensions.Logging.Abstractions.NullLogger<ModelHost>.Instance);
    }

    public InferenceOptions Options { get; }
    public InferenceTelemetry Telemetry { get; }
    public ModelHost Host { get; }

    public static ModelVersionInfo Version(string name, int version, string? alias = "production") => new(name, version, alias, DateTimeOffset.UtcNow);

    /// <summary>An engine over <paramref name="model"/> with the app's telemetry, outside any host.</summary>
    public BatchEngine Engine(LoadedModel model, int maxBatch, int queueLimit) =>
        new(model, "test", [new("model", "test"), new("version", 1)], maxBatch, queueLimit, Telemetry, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    public void Dispose()
    {
        Host.Dispose();
        services.Dispose();
    }
}
