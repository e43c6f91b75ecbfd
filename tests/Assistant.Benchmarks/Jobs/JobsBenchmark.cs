using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Testing;
using Npgsql;
using static Assistant.Benchmarks.Stats;

namespace Assistant.Benchmarks.Jobs;

/// <summary>
/// The job system on a whole platform started by the AppHost (local Postgres, Redis, S3, two trainers):
/// <list type="bullet">
/// <item>dispatch latency: from <c>POST /api/jobs/</c> to <c>running</c> with an idle worker, both as the server
/// recorded it (created_at to the claim's started_at, before any model is loaded) and as a client polling the API
/// sees it; each job is cancelled once running and the workers are idle again before the next;</item>
/// <item>metric ingestion: points per second into <c>job_metrics</c> through the workers' own writer (binary COPY
/// into a session table, one upsert per flush), at the flush size the worker uses and at larger ones.</item>
/// </list>
/// </summary>
public sealed class JobsBenchmark : IBenchmark
{
    public string Name => "jobs";

    public string Description => "job dispatch latency (POST to running, idle worker; median/p99) and metric ingestion points/s into Postgres";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var options = new Dictionary<string, int> { ["--jobs"] = 30, ["--points"] = 1_000_000 };
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length || !options.ContainsKey(args[i]) || !int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var value) || value <= 0)
            {
                Console.Error.WriteLine("usage: jobs [--jobs 30] [--points 1000000]");
                return 2;
            }
            options[args[i]] = value;
        }
        using var data = new ScratchDirectory();
        Console.WriteLine("starting the platform (AppHost, local infrastructure)...");
        await using var platform = await RunningPlatform.StartAsync(data.Path, PlatformSecrets.CreateRandom());
        using var gateway = await BenchmarkClientAsync(platform, ct);
        var connectionString = (await platform.GetConnectionStringAsync("assistantdb"))!;

        var jobIds = await MeasureDispatchAsync(gateway, connectionString, options["--jobs"], ct);
        await MeasureIngestionAsync(connectionString, jobIds[0], options["--points"], ct);
        return 0;
    }

    /// <summary>
    /// A gateway client with its own key whose rate limit is far above what the benchmark asks (it polls job states
    /// as fast as the gateway answers), so the numbers measure dispatch, not the gateway's per-key limit.
    /// </summary>
    private static async Task<HttpClient> BenchmarkClientAsync(RunningPlatform platform, CancellationToken ct)
    {
        using var admin = platform.CreateGatewayClient();
        using var created = await admin.PostAsJsonAsync("/api/keys",
            new { name = "jobs benchmark", scopes = new[] { "train" }, requests_per_minute = 60_000_000 }, ct);
        created.EnsureSuccessStatusCode();
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("key").GetString();
        return platform.CreateGatewayClient(key);
    }

    private static async Task<List<string>> MeasureDispatchAsync(HttpClient gateway, string connectionString, int count, CancellationToken ct)
    {
        var lines = Enumerable.Range(0, 16).Select(i => JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = $"Question {i}?" }, new { role = "assistant", content = $"Answer {i}." } },
        }));
        using var form = new MultipartFormDataContent
        {
            { new StringContent($"bench-{Guid.NewGuid():N}"[..18]), "name" },
            { new ByteArrayContent(Encoding.UTF8.GetBytes(string.Join("\n", lines))), "file", "bench.jsonl" },
        };
        using var upload = await gateway.PostAsync("/api/datasets", form, ct);
        var dataset = (await upload.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("ref").GetString()!;

        var server = new List<double>();
        var client = new List<double>();
        var ids = new List<string>();
        await using var db = new NpgsqlConnection(connectionString);
        await db.OpenAsync(ct);
        for (var i = 0; i < count + 1; i++) // the first job warms up the path (JIT, connection pools) and is not counted
        {
            await WaitForIdleWorkersAsync(gateway, ct);
            var clock = Stopwatch.StartNew();
            using var created = await gateway.PostAsJsonAsync("/api/jobs/", new
            {
                base_model = "starter", training_data = dataset, hyperparameters = new { max_steps = 10_000, batch_size = 2, max_length = 32 },
            }, ct);
            var id = (await created.EnsureSuccessStatusCode().Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetString()!;
            while ((await gateway.GetFromJsonAsync<JsonElement>($"/api/jobs/{id}", ct)).GetProperty("status").GetString() is "validating_files" or "queued")
                await Task.Delay(5, ct);
            var seen = clock.Elapsed.TotalMilliseconds;
            await using var query = new NpgsqlCommand("SELECT EXTRACT(EPOCH FROM started_at - created_at) * 1000 FROM training_jobs WHERE id = @id", db);
            query.Parameters.AddWithValue("id", id);
            var recorded = Convert.ToDouble(await query.ExecuteScalarAsync(ct), CultureInfo.InvariantCulture);
            if (i > 0)
            {
                server.Add(recorded);
                client.Add(seen);
                ids.Add(id);
            }
            (await gateway.PostAsync($"/api/jobs/{id}/cancel", null, ct)).EnsureSuccessStatusCode();
            while ((await gateway.GetFromJsonAsync<JsonElement>($"/api/jobs/{id}", ct)).GetProperty("status").GetString() != "cancelled")
                await Task.Delay(50, ct);
        }
        Console.WriteLine();
        Console.WriteLine($"dispatch latency, POST /api/jobs/ -> running, idle worker, {count} jobs:");
        Console.WriteLine(Invariant($"  server (created_at -> claimed):        median {Percentile(server, 0.5),7:F1} ms   p99 {Percentile(server, 0.99),7:F1} ms   max {server.Max(),7:F1} ms"));
        Console.WriteLine(Invariant($"  client (POST sent -> API says running): median {Percentile(client, 0.5),7:F1} ms   p99 {Percentile(client, 0.99),7:F1} ms   max {client.Max(),7:F1} ms"));
        return ids;
    }

    private static async Task WaitForIdleWorkersAsync(HttpClient gateway, CancellationToken ct)
    {
        while (true)
        {
            var workers = await gateway.GetFromJsonAsync<JsonElement>("/api/workers", ct);
            var list = workers.ValueKind == JsonValueKind.Array ? workers : workers.GetProperty("data");
            if (list.EnumerateArray().Any(w => w.GetProperty("state").GetString() == "idle")
                && !list.EnumerateArray().Any(w => w.GetProperty("state").GetString() == "busy"))
                return;
            await Task.Delay(100, ct);
        }
    }

    private static async Task MeasureIngestionAsync(string connectionString, string jobId, int points, CancellationToken ct)
    {
        Console.WriteLine();
        Console.WriteLine($"metric ingestion into job_metrics, {points:N0} points (10 keys per step), binary COPY + one upsert per flush:");
        var step = 0;
        foreach (var flushSize in new[] { 500, 5_000, 50_000 }) // 5,000 is the workers' default (Trainer:MetricsFlushPoints)
        {
            await using var writer = new JobMetricsWriter(connectionString, jobId);
            var now = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            for (var written = 0; written < points; step++)
            {
                for (var key = 0; key < 10; key++, written++) writer.Add(Keys[key], step, Math.Sin(step + key), now);
                if (writer.Pending >= flushSize) await writer.FlushAsync(ct);
            }
            await writer.FlushAsync(ct);
            clock.Stop();
            Console.WriteLine(Invariant($"  flush every {flushSize,6:N0} points: {points / clock.Elapsed.TotalSeconds,10:N0} points/s ({clock.Elapsed.TotalSeconds:F2} s)"));
        }
    }

    private static readonly string[] Keys =
        ["train_loss", "train_mean_token_accuracy", "learning_rate", "grad_norm", "tokens_per_second", "mfu", "step_time_ms", "memory_mb", "epoch", "trained_tokens"];
}
