using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// Jobs from the API's front door to a registered model: the trainer workers run them on the starter model,
/// through real Postgres, Redis and S3, and survive Redis losing everything.
/// </summary>
public sealed class JobLifecycleTests(PlatformFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A small support-chat dataset, uploaded through the API; returns its reference (name@1).</summary>
    internal static async Task<string> UploadConversationsAsync(HttpClient gateway, string prefix, int examples = 24)
    {
        var name = DatasetsApiTests.UniqueName(prefix);
        var lines = Enumerable.Range(0, examples).Select(i =>
            DatasetsApiTests.Chat($"How do I reset password {i}?", $"Open Settings, Security, Reset ({i})."));
        using var response = await DatasetsApiTests.UploadAsync(gateway, name, "support.jsonl", string.Join("\n", lines) + "\n");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return $"{name}@1";
    }

    internal static JsonObject TinyJob(string data, int steps, JsonObject? extra = null)
    {
        var hyperparameters = new JsonObject
        {
            ["max_steps"] = steps, ["batch_size"] = 4, ["max_length"] = 64, ["eval_steps"] = 0, ["save_steps"] = 0,
            ["eval_samples"] = 1, ["max_new_tokens"] = 8, ["learning_rate"] = 1e-3,
        };
        foreach (var (key, value) in extra ?? []) hyperparameters[key] = value?.DeepClone();
        return new JsonObject { ["base_model"] = "starter", ["method"] = "full", ["training_data"] = data, ["hyperparameters"] = hyperparameters };
    }

    internal static async Task<JsonElement> CreateAsync(HttpClient gateway, JsonObject body)
    {
        using var response = await gateway.PostAsJsonAsync("/api/jobs/", body, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    internal static async Task<JsonElement> GetAsync(HttpClient gateway, string path) =>
        (await gateway.GetFromJsonAsync<JsonElement>(path, Ct));

    /// <summary>Polls the job until it reaches one of <paramref name="statuses"/>; fails with the job's last state otherwise.</summary>
    internal static async Task<JsonElement> WaitForAsync(HttpClient gateway, string id, TimeSpan timeout, params string[] statuses)
    {
        var deadline = DateTime.UtcNow + timeout;
        JsonElement job;
        do
        {
            job = await GetAsync(gateway, $"/api/jobs/{id}");
            if (statuses.Contains(job.GetProperty("status").GetString())) return job;
            await Task.Delay(250, Ct);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"Job {id} did not reach {string.Join("/", statuses)} in {timeout}: {job}");
        return job;
    }

    [Fact]
    public async Task A_job_runs_from_queued_to_succeeded_with_metrics_events_checkpoints_and_a_registered_version_naming_its_data()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var data = await UploadConversationsAsync(gateway, "lifecycle");
        var body = TinyJob(data, steps: 6, new JsonObject { ["eval_steps"] = 3, ["save_steps"] = 3 });
        body["validation_data"] = data;
        body["suffix"] = DatasetsApiTests.UniqueName("bot");
        var created = await CreateAsync(gateway, body);
        var id = created.GetProperty("id").GetString()!;
        Assert.Contains(created.GetProperty("status").GetString(), new[] { "validating_files", "queued", "running" });

        var job = await WaitForAsync(gateway, id, TimeSpan.FromMinutes(3), "succeeded", "failed", "cancelled");
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.Equal(1, job.GetProperty("attempts").GetInt32());
        Assert.Equal(6, job.GetProperty("step").GetInt32());
        Assert.True(job.GetProperty("trained_tokens").GetInt64() > 0);
        Assert.True(job.GetProperty("metrics").GetProperty("train_loss").GetDouble() > 0);

        // One train_loss per step 1..6, and valid_loss at the evals.
        var metrics = await GetAsync(gateway, $"/api/jobs/{id}/metrics?keys=train_loss,valid_loss");
        Assert.Equal([1, 2, 3, 4, 5, 6], Steps(metrics, "train_loss"));
        Assert.Contains(3, Steps(metrics, "valid_loss"));

        var events = await GetAsync(gateway, $"/api/jobs/{id}/events?limit=100");
        var types = events.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Contains("checkpoint", types);
        Assert.Contains("eval", types);

        var checkpoints = await GetAsync(gateway, $"/api/jobs/{id}/checkpoints");
        var steps = checkpoints.GetProperty("data").EnumerateArray().Select(c => c.GetProperty("step_number").GetInt32()).Order().ToList();
        Assert.Contains(3, steps);
        Assert.Contains(6, steps);

        // The registered version names the job, the dataset version and the code that trained it.
        var result = job.GetProperty("result_model");
        var model = await GetAsync(gateway, $"/api/models/{result.GetProperty("name").GetString()}");
        var version = model.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == result.GetProperty("version").GetInt32());
        Assert.Equal(id, version.GetProperty("job_id").GetString());
        var lineage = version.GetRawText();
        Assert.Contains(data.Split('@')[0], lineage);
        Assert.False(string.IsNullOrEmpty(version.GetProperty("platform_version").GetString()));
    }

    [Fact]
    public async Task The_seed_body_is_accepted_and_answered_with_the_seed_fields()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var data = await UploadConversationsAsync(gateway, "seedbody", examples: 8);
        var created = await CreateAsync(gateway, new JsonObject
        {
            ["model_name"] = "starter", ["dataset_path"] = data, ["learning_rate"] = 2e-5, ["num_epochs"] = 1, ["batch_size"] = 4, ["max_length"] = 64,
        });
        var id = created.GetProperty("job_id").GetString()!;
        Assert.Equal(id, created.GetProperty("id").GetString());
        Assert.Equal(data, created.GetProperty("config").GetProperty("dataset_path").GetString());
        Assert.Equal("starter", created.GetProperty("config").GetProperty("model_name").GetString());
        Assert.Equal(JsonValueKind.Object, created.GetProperty("metrics").ValueKind);
        var job = await WaitForAsync(gateway, id, TimeSpan.FromMinutes(3), "succeeded", "failed", "cancelled");
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
        Assert.Equal(2, job.GetProperty("total_steps").GetInt32()); // 8 examples, batch 4, one epoch
        Assert.NotEqual(JsonValueKind.Null, job.GetProperty("completed_at").ValueKind);
    }

    [Fact]
    public async Task Redis_losing_everything_mid_run_loses_no_job_and_queued_jobs_still_run_once()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var data = await UploadConversationsAsync(gateway, "flush");
        var ids = new List<string>();
        for (var i = 0; i < 4; i++) ids.Add((await CreateAsync(gateway, TinyJob(data, steps: 12))).GetProperty("id").GetString()!);
        await WaitForAsync(gateway, ids[0], TimeSpan.FromMinutes(2), "running", "succeeded");

        await using (var redis = await ConnectionMultiplexer.ConnectAsync((await fixture.Platform.GetConnectionStringAsync("redis"))! + ",allowAdmin=true"))
        {
            foreach (var server in redis.GetServers()) await server.FlushAllDatabasesAsync();
        }

        foreach (var id in ids)
        {
            var job = await WaitForAsync(gateway, id, TimeSpan.FromMinutes(4), "succeeded", "failed", "cancelled");
            Assert.Equal("succeeded", job.GetProperty("status").GetString());
            Assert.Equal(1, job.GetProperty("attempts").GetInt32());
            Assert.Equal(12, job.GetProperty("step").GetInt32());
        }
    }

    [Fact]
    public async Task Fifty_jobs_posted_concurrently_by_parallel_clients_each_run_exactly_once()
    {
        using var setup = fixture.Platform.CreateGatewayClient();
        var data = await UploadConversationsAsync(setup, "fifty", examples: 4);
        var ids = await Task.WhenAll(Enumerable.Range(0, 10).Select(async client =>
        {
            using var gateway = fixture.Platform.CreateGatewayClient();
            var mine = new List<string>();
            for (var i = 0; i < 5; i++) mine.Add((await CreateAsync(gateway, TinyJob(data, steps: 1))).GetProperty("id").GetString()!);
            return mine;
        }));
        var all = ids.SelectMany(x => x).ToList();
        Assert.Equal(50, all.Distinct().Count());

        foreach (var id in all)
        {
            var job = await WaitForAsync(setup, id, TimeSpan.FromMinutes(8), "succeeded", "failed", "cancelled");
            Assert.Equal("succeeded", job.GetProperty("status").GetString());
            Assert.Equal(1, job.GetProperty("attempts").GetInt32());
        }
        // Exactly one run each: one claim, one registered version, one step-1 metric per job.
        await using var db = new NpgsqlConnection(await fixture.Platform.GetConnectionStringAsync("assistantdb"));
        await db.OpenAsync(Ct);
        await using var versions = new NpgsqlCommand("SELECT count(*) FROM model_versions WHERE job_id = ANY(@ids)", db);
        versions.Parameters.AddWithValue("ids", all.ToArray());
        Assert.Equal(50L, await versions.ExecuteScalarAsync(Ct));
        await using var metrics = new NpgsqlCommand("SELECT count(*) FROM job_metrics WHERE job_id = ANY(@ids) AND key = 'train_loss'", db);
        metrics.Parameters.AddWithValue("ids", all.ToArray());
        Assert.Equal(50L, await metrics.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task Paused_dispatch_holds_new_jobs_in_the_queue_until_resumed()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var data = await UploadConversationsAsync(gateway, "paused", examples: 8);
        using (var pause = await gateway.PostAsJsonAsync("/api/queue/pause", new { reason = "maintenance" }, Ct))
        {
            var queue = await pause.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.True(queue.GetProperty("paused").GetBoolean());
            Assert.Equal("maintenance", queue.GetProperty("reason").GetString());
        }
        string id;
        try
        {
            id = (await CreateAsync(gateway, TinyJob(data, steps: 2))).GetProperty("id").GetString()!;
            await Task.Delay(TimeSpan.FromSeconds(4), Ct); // several idle polls of both workers
            Assert.Equal("queued", (await GetAsync(gateway, $"/api/jobs/{id}")).GetProperty("status").GetString());
            var queue = await GetAsync(gateway, "/api/queue");
            Assert.True(queue.GetProperty("paused").GetBoolean());
            Assert.True(queue.GetProperty("queued").GetInt32() >= 1);
        }
        finally
        {
            (await gateway.PostAsync("/api/queue/resume", null, Ct)).EnsureSuccessStatusCode();
        }
        Assert.False((await GetAsync(gateway, "/api/queue")).GetProperty("paused").GetBoolean());
        var job = await WaitForAsync(gateway, id, TimeSpan.FromMinutes(2), "succeeded", "failed", "cancelled");
        Assert.Equal("succeeded", job.GetProperty("status").GetString());
    }

    private static List<int> Steps(JsonElement metrics, string key)
    {
        var series = metrics.GetProperty("series").GetProperty(key);
        return series.GetProperty("steps").EnumerateArray().Select(s => s.GetInt32()).ToList();
    }
}
