using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>The registry (import, aliases and their history), deploys, and the workers listing, through the gateway.</summary>
public sealed class ModelsApiTests(PlatformFixture fixture) : IAsyncLifetime
{
    // These tests hold jobs in given states; with dispatch paused no worker claims them underneath.
    public ValueTask InitializeAsync() => fixture.Platform.PauseDispatchAsync();

    public ValueTask DisposeAsync() => fixture.Platform.ResumeDispatchAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private RunningPlatform Platform => fixture.Platform;

    [Fact]
    public async Task An_imported_folder_becomes_a_base_model_whose_aliases_move_with_history_and_announcements()
    {
        using var gateway = Platform.CreateGatewayClient();
        var name = DatasetsApiTests.UniqueName("imported");
        await using var redis = await Platform.ConnectRedisAsync();
        var announcements = await redis.GetSubscriber().SubscribeAsync(RedisChannel.Literal("assistant:deployments"));

        var v1 = await PlatformAccess.ImportTinyModelAsync(gateway, name);
        var v2 = await PlatformAccess.ImportTinyModelAsync(gateway, name, modelType: "gpt2");

        Assert.Equal((1, 2), (v1.GetProperty("version").GetInt32(), v2.GetProperty("version").GetInt32()));
        Assert.Equal("import", v1.GetProperty("source").GetString());
        Assert.Equal("llama", v1.GetProperty("architecture").GetString());
        Assert.Equal(8, v1.GetProperty("parameters").GetInt64()); // 4 x 2 from the safetensors header
        Assert.StartsWith("s3://", v1.GetProperty("artifact").GetProperty("uri").GetString());

        using (var move = await gateway.PutAsJsonAsync($"/api/models/{name}/aliases/staging", new { version = 1, reason = "first look" }, Ct))
        {
            Assert.Equal(HttpStatusCode.OK, move.StatusCode);
        }
        using (var move = await gateway.PutAsJsonAsync($"/api/models/{name}/aliases/staging", new { version = 2, reason = "gpt2 is better" }, Ct))
        {
            var body = await move.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal((1, 2), (body.GetProperty("from_version").GetInt32(), body.GetProperty("to_version").GetInt32()));
        }
        var announced = await announcements.ReadAsync(Ct);
        Assert.Contains(name, announced.Message.ToString());

        using var list = await gateway.GetFromJsonAsync<JsonDocument>("/api/models/", Ct);
        var summary = list!.RootElement.GetProperty("data").EnumerateArray().Single(m => m.GetProperty("name").GetString() == name);
        Assert.Equal(2, summary.GetProperty("latest_version").GetInt32());
        Assert.Equal("base", summary.GetProperty("kind").GetString());
        Assert.Equal(2, summary.GetProperty("aliases").GetProperty("staging").GetInt32());

        using (var removed = await gateway.DeleteAsync($"/api/models/{name}/aliases/staging?reason=retired", Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }
        using var model = await gateway.GetFromJsonAsync<JsonDocument>($"/api/models/{name}", Ct);
        var root = model!.RootElement;
        Assert.Equal([2, 1], root.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));
        Assert.False(root.GetProperty("aliases").TryGetProperty("staging", out _));
        var history = root.GetProperty("alias_history").EnumerateArray().ToList();
        Assert.Equal(3, history.Count);
        Assert.Equal(("retired", 2), (history[0].GetProperty("reason").GetString(), history[0].GetProperty("from_version").GetInt32()));
        Assert.Equal(JsonValueKind.Null, history[0].GetProperty("to_version").ValueKind);
        Assert.Equal("gpt2 is better", history[1].GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Folders_the_platform_cannot_load_are_refused_naming_what_is_wrong_and_register_nothing()
    {
        using var gateway = Platform.CreateGatewayClient();
        var name = DatasetsApiTests.UniqueName("refused");

        await Assert.ThrowsAsync<InvalidOperationException>(() => PlatformAccess.ImportTinyModelAsync(gateway, name, modelType: "t5"));
        using var form = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent("""{"model_type":"t5"}"""), "file", "config.json" },
            { new ByteArrayContent(PlatformAccess.Safetensors(("w", [2]))), "file", "model.safetensors" },
            { new StringContent("{}"), "file", "tokenizer.json" },
        };
        using var unsupported = await gateway.PostAsync("/api/models/import", form, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, unsupported.StatusCode);
        Assert.Equal("config.json.model_type", await PlatformAccess.ProblemParamAsync(unsupported));

        using var noTokenizer = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent("""{"model_type":"llama"}"""), "file", "config.json" },
            { new ByteArrayContent(PlatformAccess.Safetensors(("w", [2]))), "file", "model.safetensors" },
        };
        using var refused = await gateway.PostAsync("/api/models/import", noTokenizer, Ct);
        Assert.Equal("files", await PlatformAccess.ProblemParamAsync(refused));
        using var badPath = await gateway.PostAsJsonAsync("/api/models/import", new { path = "/no/such/folder", name }, Ct);
        Assert.Equal("path", await PlatformAccess.ProblemParamAsync(badPath));

        Assert.Equal(HttpStatusCode.NotFound, (await gateway.GetAsync($"/api/models/{name}", Ct)).StatusCode);
        using var badAlias = await gateway.PutAsJsonAsync($"/api/models/{name}/aliases/production", new { version = 1 }, Ct);
        Assert.Equal(HttpStatusCode.NotFound, badAlias.StatusCode);
    }

    [Fact]
    public async Task A_folder_the_server_can_read_is_imported_by_path()
    {
        using var gateway = Platform.CreateGatewayClient();
        using var folder = new ScratchDirectory();
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "config.json"), """{"model_type":"gpt_neox"}""", Ct);
        await File.WriteAllBytesAsync(Path.Combine(folder.Path, "model.safetensors"),
            PlatformAccess.Safetensors(("gpt_neox.embed_in.weight", [8, 4]), ("embed_out.weight", [8, 4])), Ct);
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "vocab.json"), "{}", Ct);
        await File.WriteAllTextAsync(Path.Combine(folder.Path, "merges.txt"), "#version: 0.2\n", Ct);
        var name = DatasetsApiTests.UniqueName("bypath");

        using var response = await gateway.PostAsJsonAsync("/api/models/import", new { path = folder.Path, name, description = "from disk" }, Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var version = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(("gpt_neox", 64L), (version.GetProperty("architecture").GetString(), version.GetProperty("parameters").GetInt64()));
        using var bucket = await Platform.OpenArtifactsAsync();
        var stored = await bucket.Store.ListAsync(version.GetProperty("artifact").GetProperty("prefix").GetString()!, Ct);
        Assert.Equal(4, stored.Count);
    }

    [Fact]
    public async Task Deploying_moves_the_production_alias_to_a_succeeded_jobs_version_and_refuses_other_jobs()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = DatasetsApiTests.UniqueName("deployed");
        var version = await PlatformAccess.ImportTinyModelAsync(gateway, model);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        using var created = await gateway.PostAsJsonAsync("/api/jobs/", new { base_model = model, training_data = $"{data}@1" }, Ct);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;

        using (var refused = await gateway.PostAsync($"/api/deploy/{id}", null, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("status", await PlatformAccess.ProblemParamAsync(refused));
        }
        await using (var db = await Platform.OpenDbAsync())
        {
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Succeeded).SetProperty(j => j.ResultModelVersionId, version.GetProperty("id").GetGuid()), Ct);
        }

        using var deployed = await gateway.PostAsync($"/api/deploy/{id}", null, Ct);
        using var canary = await gateway.PostAsync($"/api/deploy/{id}?alias=canary", null, Ct);

        Assert.Equal(HttpStatusCode.OK, deployed.StatusCode);
        var deployment = await deployed.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal((model, "production", 1), (deployment.GetProperty("model").GetString(), deployment.GetProperty("alias").GetString(), deployment.GetProperty("version").GetInt32()));
        Assert.Equal(HttpStatusCode.OK, canary.StatusCode);
        using var shown = await gateway.GetFromJsonAsync<JsonDocument>($"/api/models/{model}", Ct);
        Assert.Equal(1, shown!.RootElement.GetProperty("aliases").GetProperty("production").GetInt32());
        Assert.Equal(1, shown.RootElement.GetProperty("aliases").GetProperty("canary").GetInt32());
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.PostAsync("/api/deploy/ftjob-000000000000000000000000", null, Ct)).StatusCode);
    }

    [Fact]
    public async Task Workers_are_listed_with_their_state_and_one_whose_heartbeat_expired_is_lost()
    {
        using var gateway = Platform.CreateGatewayClient();
        var ghost = $"ghost-{Guid.NewGuid():N}"[..20];
        await using (var db = await Platform.OpenDbAsync())
        {
            db.Workers.Add(new Worker
            {
                Id = ghost, Hostname = "gone", PlatformVersion = "test", Device = "cpu", State = WorkerState.Busy, CurrentJobId = "ftjob-ghost",
                RegisteredAt = DateTimeOffset.UtcNow, LastHeartbeatAt = DateTimeOffset.UtcNow, CpuPercent = 50, RssBytes = 1 << 20,
            });
            await db.SaveChangesAsync(Ct);
        }

        try
        {
            using var list = await gateway.GetFromJsonAsync<JsonDocument>("/api/workers", Ct);
            var workers = list!.RootElement.GetProperty("data").EnumerateArray().ToList();
            var lost = workers.Single(w => w.GetProperty("id").GetString() == ghost);
            Assert.Equal("lost", lost.GetProperty("state").GetString());
            Assert.Equal("ftjob-ghost", lost.GetProperty("current_job_id").GetString());
            Assert.Equal(1 << 20, lost.GetProperty("rss_bytes").GetInt64());
            // The platform's own trainer heartbeats.
            Assert.Contains(workers, w => w.GetProperty("state").GetString() is "idle" or "busy");
        }
        finally
        {
            await using var db = await Platform.OpenDbAsync();
            await db.Workers.Where(w => w.Id == ghost).ExecuteDeleteAsync(Ct);
        }
    }

    [Fact]
    public async Task A_finished_jobs_checkpoint_is_registered_as_a_new_version_with_its_own_copy_of_the_weights_and_bad_requests_are_named()
    {
        using var gateway = Platform.CreateGatewayClient();
        var baseModel = DatasetsApiTests.UniqueName("ckptbase");
        await PlatformAccess.ImportTinyModelAsync(gateway, baseModel);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        using var created = await gateway.PostAsJsonAsync("/api/jobs/", new { base_model = baseModel, training_data = $"{data}@1" }, Ct);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        var name = DatasetsApiTests.UniqueName("ckpt");

        // Dispatch is paused: the job has not finished, so it has nothing to register yet.
        using (var early = await gateway.PostAsJsonAsync($"/api/models/{name}/versions", new { job_id = id, step = 4 }, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, early.StatusCode);
            Assert.Equal("job_id", await PlatformAccess.ProblemParamAsync(early));
        }

        // A checkpoint as a worker leaves one: model files beside what only resuming needs.
        var prefix = $"jobs/{id}/checkpoints/checkpoint-4/";
        using (var bucket = await Platform.OpenArtifactsAsync())
        {
            var files = new (string Name, byte[] Content)[]
            {
                ("config.json", """{"model_type":"llama","hidden_size":2,"vocab_size":4}"""u8.ToArray()),
                ("model.safetensors", PlatformAccess.Safetensors(("model.embed_tokens.weight", [4, 2]))),
                ("tokenizer.json", """{"version":"1.0","model":{"type":"BPE","vocab":{},"merges":[]}}"""u8.ToArray()),
                ("optimizer.bin", [1, 2, 3]), ("rng_state.bin", [4]), ("trainer_state.json", "{}"u8.ToArray()), ("complete", []),
            };
            foreach (var (file, content) in files)
            {
                await bucket.Store.PutAsync(prefix + file, new MemoryStream(content), ct: Ct);
            }
        }
        await using (var db = await Platform.OpenDbAsync())
        {
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Succeeded), Ct);
            db.JobCheckpoints.Add(new JobCheckpoint
            {
                Id = Guid.NewGuid(), JobId = id, Step = 4, ObjectPrefix = prefix, Metrics = """{"valid_loss":1.25}""", IsBest = true, CreatedAt = DateTimeOffset.UtcNow,
            });
            await db.SaveChangesAsync(Ct);
        }

        using var registered = await gateway.PostAsJsonAsync($"/api/models/{name}/versions", new { job_id = id, step = 4 }, Ct);
        var version = await registered.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(registered.StatusCode == HttpStatusCode.Created, version.ToString());
        Assert.Equal((1, "checkpoint"), (version.GetProperty("version").GetInt32(), version.GetProperty("source").GetString()));
        Assert.Equal(1.25, version.GetProperty("metrics").GetProperty("valid_loss").GetDouble());
        Assert.Equal(baseModel, version.GetProperty("base_model").GetProperty("name").GetString());
        Assert.Contains(version.GetProperty("datasets").EnumerateArray(), d => d.GetProperty("dataset").GetString() == data && d.GetProperty("role").GetString() == "train");
        Assert.Contains(id, version.GetProperty("description").GetString());
        Assert.Equal(id, version.GetProperty("job_id").GetString()); // lineage back to the job, as the job's own version has
        var artifact = version.GetProperty("artifact").GetProperty("prefix").GetString()!;
        Assert.NotEqual(prefix, artifact);
        using (var bucket = await Platform.OpenArtifactsAsync())
        {
            var copied = (await bucket.Store.ListAsync(artifact, Ct)).Select(o => o.Key[artifact.Length..]).Order().ToList();
            Assert.Equal(["config.json", "model.safetensors", "tokenizer.json"], copied);
        }
        using var model = await gateway.GetFromJsonAsync<JsonDocument>($"/api/models/{name}", Ct);
        Assert.Equal("trained", model!.RootElement.GetProperty("kind").GetString());

        // Bad requests name the field at fault, and register nothing.
        foreach (var (path, body, status, param) in new (string, object, HttpStatusCode, string)[]
        {
            ($"/api/models/{name}/versions", new { job_id = id, step = 5 }, HttpStatusCode.NotFound, "step"),
            ($"/api/models/{name}/versions", new { job_id = id }, HttpStatusCode.BadRequest, "step"),
            ($"/api/models/{name}/versions", new { job_id = "ftjob-000000000000000000000000", step = 4 }, HttpStatusCode.NotFound, "job_id"),
            ("/api/models/Not%20A%20Name/versions", new { job_id = id, step = 4 }, HttpStatusCode.BadRequest, "name"),
            ($"/api/models/{baseModel}/versions", new { job_id = id, step = 4 }, HttpStatusCode.Conflict, "name"),
        })
        {
            using var refused = await gateway.PostAsJsonAsync(path, body, Ct);
            Assert.True(refused.StatusCode == status, $"{path} {JsonSerializer.Serialize(body)}: {(int)refused.StatusCode} {await refused.Content.ReadAsStringAsync(Ct)}");
            Assert.Equal(param, await PlatformAccess.ProblemParamAsync(refused));
        }
        using var after = await gateway.GetFromJsonAsync<JsonDocument>($"/api/models/{name}", Ct);
        Assert.Single(after!.RootElement.GetProperty("versions").EnumerateArray());

        // A job may give several checkpoint versions (only the version the job itself produced is one per job).
        using var again = await gateway.PostAsJsonAsync($"/api/models/{name}/versions", new { job_id = id, step = 4, description = "the same checkpoint, for a canary" }, Ct);
        var second = await again.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(again.StatusCode == HttpStatusCode.Created, second.ToString());
        Assert.Equal((2, id), (second.GetProperty("version").GetInt32(), second.GetProperty("job_id").GetString()));
    }
}
