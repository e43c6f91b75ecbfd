using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aspire.Hosting.Testing;
using Assistant.Modeling;
using Assistant.Testing;
using static Assistant.Benchmarks.Stats;

namespace Assistant.Benchmarks.Serving;

/// <summary>
/// Serving on a whole platform started by the AppHost (two inference replicas behind the gateway), with the reference
/// tiny Llama (d=256, 4 layers, random weights) deployed as production:
/// <list type="bullet">
/// <item>single stream: completion tokens per second of one client streaming one chat completion after another;</item>
/// <item>8 and 32 concurrent clients: aggregate completion tokens per second and time to first token (p50/p99);</item>
/// <item>gateway overhead: the same cheap request (<c>GET /v1/models</c>) through the gateway (key check, rate
/// limit, YARP) and straight to one inference replica, alternating; the difference of the medians.</item>
/// </list>
/// Every request asks for <c>--tokens</c> tokens (greedy); a random model rarely ends early, and the figures use the
/// token counts the server reports.
/// </summary>
public sealed class ServeBenchmark : IBenchmark
{
    public string Name => "serve";

    public string Description => "inference through the gateway: tokens/s at 1, 8 and 32 clients, time to first token, gateway overhead";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var tokens = args.Length >= 2 && args[0] == "--tokens" && int.TryParse(args[1], out var n) && n > 0 ? n : 64;
        var seconds = 20;
        using var data = new ScratchDirectory();
        Console.WriteLine("starting the platform (AppHost, local infrastructure)...");
        await using var platform = await RunningPlatform.StartAsync(data.Path, PlatformSecrets.CreateRandom());
        using var gateway = platform.CreateGatewayClient();
        gateway.Timeout = TimeSpan.FromMinutes(5);

        var folder = ModelPresets.Create("llama", "tiny", 1, Path.Combine(data.Path, "bench-model"));
        var name = $"bench-{Guid.NewGuid():N}"[..14];
        (await gateway.PostAsJsonAsync("/api/models/import", new { path = folder, name }, ct)).EnsureSuccessStatusCode();
        (await gateway.PutAsJsonAsync($"/api/models/{name}/aliases/production", new { version = 1 }, ct)).EnsureSuccessStatusCode();
        var clock = Stopwatch.StartNew();
        await WaitServedAsync(gateway, name, ct);
        Console.WriteLine(Invariant($"deployed {name}@1 (llama tiny) on every replica {clock.Elapsed.TotalSeconds:F1} s after the alias moved; {tokens} tokens per request, greedy"));

        await RunClientsAsync(gateway, name, tokens, clients: 2, TimeSpan.FromSeconds(5), ct); // warm-up: JIT, pools, both replicas
        foreach (var clients in new[] { 1, 8, 32 })
        {
            var run = await RunClientsAsync(gateway, name, tokens, clients, TimeSpan.FromSeconds(seconds), ct);
            Console.WriteLine(Invariant(
                $"  {clients,2} client(s): {run.Tokens / run.Wall.TotalSeconds,7:F1} tokens/s aggregate ({run.Requests} requests, {run.Tokens} tokens in {run.Wall.TotalSeconds:F1} s, {run.Failures} failed); time to first token p50 {Percentile(run.FirstToken, 0.5),6:F1} ms, p99 {Percentile(run.FirstToken, 0.99),6:F1} ms"));
        }

        // A key of its own with room for the loop: the default 6,000 a minute (a 1,000 burst, then 100 a second) would
        // refuse a tight sequential loop of cheap requests part way, and the limiter's check is still on the path measured.
        using var created = await gateway.PostAsJsonAsync("/api/keys", new { name = "serve-benchmark", scopes = new[] { "infer" }, requests_per_minute = 1_000_000 }, ct);
        created.EnsureSuccessStatusCode();
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("key").GetString();
        using var measured = platform.CreateGatewayClient(key);
        using var direct = platform.App.CreateHttpClient("inference-1", "http");
        var (viaGateway, straight) = await MeasureOverheadAsync(measured, direct, 2000, ct);
        Console.WriteLine(Invariant(
            $"gateway overhead (GET /v1/models, 2000 sequential each): gateway p50 {Percentile(viaGateway, 0.5):F2} ms p99 {Percentile(viaGateway, 0.99):F2} ms; direct p50 {Percentile(straight, 0.5):F2} ms p99 {Percentile(straight, 0.99):F2} ms; added p50 {Percentile(viaGateway, 0.5) - Percentile(straight, 0.5):F2} ms   (target < 2 ms)"));
        return 0;
    }

    private sealed record Run(int Requests, long Tokens, int Failures, TimeSpan Wall, List<double> FirstToken);

    /// <summary><paramref name="clients"/> loops, each streaming one chat completion after another for <paramref name="duration"/>.</summary>
    private static async Task<Run> RunClientsAsync(HttpClient gateway, string model, int tokens, int clients, TimeSpan duration, CancellationToken ct)
    {
        var firstToken = new List<double>();
        long total = 0;
        int requests = 0, failures = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async client =>
        {
            for (var i = 0; clock.Elapsed < duration; i++)
            {
                var (first, count, ok) = await StreamOnceAsync(gateway, model, $"Customer {client} asks question {i}: where is my order?", tokens, ct);
                lock (firstToken)
                {
                    requests++;
                    if (!ok) { failures++; continue; }
                    firstToken.Add(first);
                    total += count;
                }
            }
        }));
        return new Run(requests, total, failures, clock.Elapsed, firstToken);
    }

    /// <summary>One streamed chat completion: milliseconds to the first content chunk and the completion tokens the server counted.</summary>
    private static async Task<(double FirstTokenMs, int Tokens, bool Ok)> StreamOnceAsync(HttpClient gateway, string model, string question, int tokens, CancellationToken ct)
    {
        var body = new
        {
            model, max_tokens = tokens, temperature = 0, stream = true, stream_options = new { include_usage = true },
            messages = new[] { new { role = "user", content = question } },
        };
        var clock = Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = JsonContent.Create(body) };
        using var response = await gateway.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode) return (0, 0, false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct), Encoding.UTF8);
        double? first = null;
        var count = 0;
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            if (line == "data: [DONE]") break;
            using var chunk = JsonDocument.Parse(line.AsMemory(6));
            var root = chunk.RootElement;
            if (first is null && root.GetProperty("choices") is { ValueKind: JsonValueKind.Array } choices && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                first = clock.Elapsed.TotalMilliseconds;
            if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                count = usage.GetProperty("completion_tokens").GetInt32();
        }
        return (first ?? clock.Elapsed.TotalMilliseconds, count, true);
    }

    /// <summary>Alternates the two paths request by request, so a slow moment of the machine hits both alike.</summary>
    private static async Task<(List<double> Gateway, List<double> Direct)> MeasureOverheadAsync(HttpClient gateway, HttpClient direct, int count, CancellationToken ct)
    {
        var (viaGateway, straight) = (new List<double>(count), new List<double>(count));
        for (var i = 0; i < count + 200; i++) // the first 200 of each warm the path up and are not counted
        {
            foreach (var (http, times) in new[] { (gateway, viaGateway), (direct, straight) })
            {
                var clock = Stopwatch.StartNew();
                using var response = await http.GetAsync("/v1/models", ct);
                await response.Content.ReadAsByteArrayAsync(ct);
                response.EnsureSuccessStatusCode();
                if (i >= 200) times.Add(clock.Elapsed.TotalMilliseconds);
            }
        }
        return (viaGateway, straight);
    }

    private static async Task WaitServedAsync(HttpClient gateway, string name, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddMinutes(3);
        while (DateTime.UtcNow < deadline)
        {
            var deployments = await gateway.GetFromJsonAsync<JsonElement>("/api/deployments", ct);
            if (deployments.GetProperty("data").EnumerateArray().Any(d => d.GetProperty("model").GetString() == name && d.GetProperty("converged").GetBoolean()))
                return;
            await Task.Delay(250, ct);
        }
        throw new TimeoutException($"{name}@1 was not served by every replica within 3 minutes.");
    }
}
