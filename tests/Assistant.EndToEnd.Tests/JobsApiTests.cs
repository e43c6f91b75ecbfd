using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Jobs;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// Jobs through the gateway on the real platform. No test depends on a worker running its jobs: states a worker
/// would reach (succeeded, metrics, checkpoints) are written with EF where a test needs them.
/// </summary>
public sealed class JobsApiTests(PlatformFixture fixture) : IAsyncLifetime
{
    // These tests hold jobs in given states; with dispatch paused no worker claims them underneath.
    public ValueTask InitializeAsync() => fixture.Platform.PauseDispatchAsync();

    public ValueTask DisposeAsync() => fixture.Platform.ResumeDispatchAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private RunningPlatform Platform => fixture.Platform;

    private static async Task<string> BaseModelAsync(HttpClient gateway)
    {
        var name = DatasetsApiTests.UniqueName("base");
        await PlatformAccess.ImportTinyModelAsync(gateway, name);
        return name;
    }

    private static async Task<JsonElement> CreateAsync(HttpClient gateway, object body)
    {
        using var response = await gateway.PostAsJsonAsync("/api/jobs/", body, Ct);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {json}");
        return json;
    }

    [Fact]
    public async Task The_seeds_body_creates_a_queued_job_with_its_dataset_usage_and_one_stream_message()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);

        var job = await CreateAsync(gateway, new { model_name = model, dataset_path = $"{data}@1", learning_rate = 3e-5, num_epochs = 2 });

        var id = job.GetProperty("job_id").GetString()!;
        Assert.Equal(id, job.GetProperty("id").GetString());
        Assert.Equal("fine_tuning.job", job.GetProperty("object").GetString());
        Assert.Equal(JobStatus.Queued, job.GetProperty("status").GetString());
        var config = job.GetProperty("config");
        Assert.Equal(model, config.GetProperty("model_name").GetString());
        Assert.Equal($"{data}@1", config.GetProperty("dataset_path").GetString());
        Assert.Equal(3e-5, config.GetProperty("learning_rate").GetDouble());
        Assert.Equal(2, config.GetProperty("num_epochs").GetDouble());
        Assert.Equal(4, config.GetProperty("batch_size").GetInt32()); // the seed's default
        Assert.Equal(512, config.GetProperty("max_length").GetInt32());
        Assert.Equal("full", job.GetProperty("method").GetString());
        Assert.Equal(0.1, job.GetProperty("hyperparameters").GetProperty("min_lr_ratio").GetDouble()); // defaults filled in
        Assert.Equal(JsonValueKind.Null, job.GetProperty("error").ValueKind);

        await using (var db = await Platform.OpenDbAsync())
        {
            var row = await db.Jobs.SingleAsync(j => j.Id == id, Ct);
            Assert.NotNull(row.QueuedAt);
            var usage = await db.DatasetVersionUsages.SingleAsync(u => u.UsedById == id, Ct);
            Assert.Equal("job", usage.UsedByKind);
            Assert.Equal(row.TrainDatasetVersionId, usage.DatasetVersionId);
        }
        Assert.Equal(1, (await Platform.StreamCountsAsync()).GetValueOrDefault(id));
        using var again = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{id}", Ct);
        Assert.Equal(id, again!.RootElement.GetProperty("job_id").GetString());
    }

    [Fact]
    public async Task The_full_body_with_a_split_pins_the_split_parts_and_the_hyperparameters()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway, examples: 50);

        var job = await CreateAsync(gateway, new
        {
            base_model = $"{model}@1",
            method = "lora",
            training_data = data, // redundant with the split's dataset, as the CLI sends it
            split = new { dataset = data, ratios = new[] { 0.6, 0.2, 0.2 }, seed = 7 },
            hyperparameters = new { learning_rate = 1e-4, lora_r = 4, max_steps = 30 },
            seed = 11,
            suffix = "support-bot",
            max_attempts = 2,
        });

        Assert.Equal(JobStatus.Queued, job.GetProperty("status").GetString());
        Assert.Equal("lora", job.GetProperty("method").GetString());
        Assert.Equal(11, job.GetProperty("seed").GetInt64());
        Assert.Equal(2, job.GetProperty("max_attempts").GetInt32());
        var hyperparameters = job.GetProperty("hyperparameters");
        Assert.Equal(4, hyperparameters.GetProperty("lora_r").GetInt32());
        Assert.Equal(11, hyperparameters.GetProperty("seed").GetInt64());
        Assert.Equal("lora", hyperparameters.GetProperty("method").GetString());
        var datasets = job.GetProperty("datasets");
        Assert.Equal($"{data}@1#train", datasets.GetProperty("train").GetString()); // "latest" resolved and pinned
        Assert.Equal($"{data}@1#validation", datasets.GetProperty("validation").GetString());

        await using var db = await Platform.OpenDbAsync();
        var row = await db.Jobs.SingleAsync(j => j.Id == job.GetProperty("id").GetString(), Ct);
        var split = await db.DatasetSplits.SingleAsync(s => s.Id == row.DatasetSplitId, Ct);
        Assert.Equal((split.TrainSha256, split.ValidationSha256, split.TestSha256), (row.TrainSha256, row.ValidationSha256, row.TestSha256));
        Assert.Equal((30L, 10L, 10L), (split.TrainExamples, split.ValidationExamples, split.TestExamples));
    }

    [Fact]
    public async Task Text_data_fails_a_fine_tune_as_an_invalid_training_file_but_suits_pretraining()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var name = DatasetsApiTests.UniqueName("corpus");
        var text = string.Join("\n", Enumerable.Range(0, 5).Select(i => JsonSerializer.Serialize(new { text = $"Paragraph {i} about the coast." })));
        (await DatasetsApiTests.UploadAsync(gateway, name, "c.jsonl", text)).EnsureSuccessStatusCode();

        var fineTune = await CreateAsync(gateway, new { base_model = model, training_data = $"{name}@1" });
        var pretrain = await CreateAsync(gateway, new { base_model = model, method = "pretrain", training_data = $"{name}@1" });

        Assert.Equal(JobStatus.Failed, fineTune.GetProperty("status").GetString());
        var error = fineTune.GetProperty("error");
        Assert.Equal("invalid_training_file", error.GetProperty("code").GetString());
        Assert.Equal("training_data", error.GetProperty("param").GetString());
        Assert.Contains("pretrain", error.GetProperty("message").GetString());
        Assert.Equal(0, (await Platform.StreamCountsAsync()).GetValueOrDefault(fineTune.GetProperty("id").GetString()!));
        Assert.Equal(JobStatus.Queued, pretrain.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Invalid_requests_are_problems_naming_the_field_and_change_nothing()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var cases = new (object Body, string Field)[]
        {
            (new { base_model = model, training_data = $"{data}@9" }, "training_data"),
            (new { model_name = model, dataset_path = "no-such-data@1" }, "dataset_path"),
            (new { base_model = model, training_data = "Not A Reference" }, "training_data"),
            (new { base_model = "no-such-model", training_data = $"{data}@1" }, "base_model"),
            (new { model_name = $"{model}@7", dataset_path = $"{data}@1" }, "model_name"),
            (new { base_model = $"{model}:nightly", training_data = $"{data}@1" }, "base_model"),
            (new { base_model = model, training_data = $"{data}@1", hyperparameters = new { learning_rate = -1 } }, "hyperparameters.learning_rate"),
            (new { base_model = model, training_data = $"{data}@1", hyperparameters = new { batch_size = 0 } }, "hyperparameters.batch_size"),
            (new { base_model = model, training_data = $"{data}@1", hyperparameters = new { batch_size = 2.5 } }, "hyperparameters.batch_size"),
            (new { base_model = model, training_data = $"{data}@1", hyperparameters = new { learning_rte = 1e-4 } }, "hyperparameters.learning_rte"),
            (new { base_model = model, training_data = $"{data}@1", hyperparameters = new { is_lora = true } }, "hyperparameters.is_lora"),
            (new { model_name = model, dataset_path = $"{data}@1", learning_rate = "fast" }, "learning_rate"),
            (new { base_model = model, training_data = $"{data}@1", method = "rlhf" }, "method"),
            (new { base_model = model, split = new { dataset = $"{data}@1", ratios = new[] { 0.5, 0.2, 0.2 } } }, "split.ratios"),
            (new { base_model = model, split = new { dataset = "missing@1" } }, "split.dataset"),
            (new { base_model = model, training_data = $"{data}@1", split = new { dataset = $"{data}@2" } }, "split"),
            (new { base_model = model }, "training_data"),
            (new { training_data = $"{data}@1" }, "base_model"),
            (new { base_model = model, training_data = $"{data}@1", epochs = 3 }, "epochs"),
            (new { base_model = model, training_data = $"{data}@1", max_attempts = 0 }, "max_attempts"),
            (new { base_model = model, training_data = $"{data}@1", suffix = "no spaces" }, "suffix"),
            (new { base_model = model, training_data = $"{data}@1", seed = 1, hyperparameters = new { seed = 2 } }, "seed"),
        };
        var before = await Platform.CountRowsAsync();

        foreach (var (body, field) in cases)
        {
            using var response = await gateway.PostAsJsonAsync("/api/jobs/", body, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{JsonSerializer.Serialize(body)} -> {(int)response.StatusCode}");
            Assert.Equal(field, await PlatformAccess.ProblemParamAsync(response));
        }
        using var notJson = await gateway.PostAsync("/api/jobs/", new StringContent("{not json", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal("body", await PlatformAccess.ProblemParamAsync(notJson));

        Assert.Equal(before, await Platform.CountRowsAsync());
    }

    [Fact]
    public async Task A_queued_job_cancels_at_once_cannot_be_cancelled_twice_and_is_deleted_only_when_finished()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var id = (await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1" })).GetProperty("id").GetString()!;
        var before = await Platform.CountRowsAsync();

        using (var refused = await gateway.DeleteAsync($"/api/jobs/{id}", Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("status", await PlatformAccess.ProblemParamAsync(refused));
        }
        Assert.Equal(before, await Platform.CountRowsAsync());

        using (var cancel = await gateway.PostAsync($"/api/jobs/{id}/cancel", null, Ct))
        {
            var job = await cancel.Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
            Assert.Equal(JobStatus.Cancelled, job.GetProperty("status").GetString());
            Assert.True(job.GetProperty("cancel_requested").GetBoolean());
            Assert.NotEqual(JsonValueKind.Null, job.GetProperty("completed_at").ValueKind);
        }
        using (var again = await gateway.PostAsync($"/api/jobs/{id}/cancel", null, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
            Assert.Equal("status", await PlatformAccess.ProblemParamAsync(again));
        }

        // A checkpoint the job left (row and object), as a worker would have written it.
        using var bucket = await Platform.OpenArtifactsAsync();
        var artifacts = bucket.Store;
        var prefix = $"jobs/{id}/checkpoints/step-2/";
        await artifacts.PutAsync(prefix + "model.safetensors", new MemoryStream(PlatformAccess.Safetensors(("w", [2]))), ct: Ct);
        await using (var db = await Platform.OpenDbAsync())
        {
            db.JobCheckpoints.Add(new JobCheckpoint { Id = Guid.NewGuid(), JobId = id, Step = 2, ObjectPrefix = prefix, Metrics = "{}", CreatedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }

        using (var deleted = await gateway.DeleteAsync($"/api/jobs/{id}", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }
        Assert.Empty(await artifacts.ListAsync(prefix, Ct));
        await using var rows = await Platform.OpenDbAsync();
        Assert.False(await rows.JobCheckpoints.AnyAsync(c => c.JobId == id, Ct));
        Assert.False(await rows.Jobs.AnyAsync(j => j.Id == id, Ct));
        Assert.False(await rows.JobEvents.AnyAsync(e => e.JobId == id, Ct));
        Assert.False(await rows.DatasetVersionUsages.AnyAsync(u => u.UsedById == id, Ct));
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.GetAsync($"/api/jobs/{id}", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.PostAsync("/api/jobs/ftjob-000000000000000000000000/cancel", null, Ct)).StatusCode);
    }

    [Fact]
    public async Task Only_a_succeeded_job_with_a_model_can_be_evaluated_and_the_evaluation_is_queued_for_a_worker()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var id = (await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1" })).GetProperty("id").GetString()!;
        var before = await Platform.CountRowsAsync();

        using (var unfinished = await gateway.PostAsJsonAsync($"/api/jobs/{id}/evaluate", new { dataset = $"{data}@1" }, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, unfinished.StatusCode);
            Assert.Equal("status", await PlatformAccess.ProblemParamAsync(unfinished));
        }
        Assert.Equal(before, await Platform.CountRowsAsync());

        await using (var db = await Platform.OpenDbAsync())
        {
            var versionId = await db.ModelVersions.Where(v => v.Model!.Name == model).Select(v => v.Id).SingleAsync(Ct);
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Succeeded).SetProperty(j => j.ResultModelVersionId, versionId), Ct);
        }
        using (var unknown = await gateway.PostAsJsonAsync($"/api/jobs/{id}/evaluate", new { test_dataset = $"{data}@5" }, Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
            Assert.Equal("test_dataset", await PlatformAccess.ProblemParamAsync(unknown));
        }
        using var accepted = await gateway.PostAsJsonAsync($"/api/jobs/{id}/evaluate", new { job_id = id, test_dataset = $"{data}@1" }, Ct);

        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var evaluation = await accepted.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var evaluationId = evaluation.GetProperty("id").GetString()!;
        Assert.Equal("queued", evaluation.GetProperty("status").GetString());
        Assert.Equal(model, evaluation.GetProperty("model").GetProperty("name").GetString());
        using var fetched = await gateway.GetFromJsonAsync<JsonDocument>($"/api/evaluations/{evaluationId}", Ct);
        Assert.Equal($"{data}@1", fetched!.RootElement.GetProperty("dataset").GetString());
        Assert.Equal(1, (await Platform.StreamCountsAsync()).GetValueOrDefault(evaluationId));

        // The job lists its evaluations, newest first.
        using var second = await gateway.PostAsJsonAsync($"/api/jobs/{id}/evaluate", new { dataset = $"{data}@1" }, Ct);
        var secondId = (await second.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString();
        using var listed = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{id}/evaluations", Ct);
        Assert.Equal("list", listed!.RootElement.GetProperty("object").GetString());
        var evaluations = listed.RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal([secondId, evaluationId], evaluations.Select(e => e.GetProperty("id").GetString()));
        Assert.All(evaluations, e => Assert.Equal(model, e.GetProperty("model").GetProperty("name").GetString()));
        using var unknownJob = await gateway.GetAsync("/api/jobs/ftjob-nosuch/evaluations", Ct);
        Assert.Equal(HttpStatusCode.NotFound, unknownJob.StatusCode);
    }

    [Fact]
    public async Task Jobs_list_newest_first_in_pages()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var created = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            created.Add((await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1" })).GetProperty("id").GetString()!);
        }

        using var first = await gateway.GetFromJsonAsync<JsonDocument>("/api/jobs/?limit=2", Ct);
        var page = first!.RootElement;
        Assert.Equal("list", page.GetProperty("object").GetString());
        Assert.True(page.GetProperty("has_more").GetBoolean());
        Assert.Equal([created[2], created[1]], page.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetString()));
        using var second = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/?limit=1&after={created[1]}", Ct);
        Assert.Equal(created[0], second!.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
        using var queued = await gateway.GetFromJsonAsync<JsonDocument>("/api/jobs/?status=queued&limit=100", Ct);
        Assert.All(queued!.RootElement.GetProperty("data").EnumerateArray(), j => Assert.Equal("queued", j.GetProperty("status").GetString()));

        using var badStatus = await gateway.GetAsync("/api/jobs/?status=done", Ct);
        Assert.Equal("status", await PlatformAccess.ProblemParamAsync(badStatus));
        using var badLimit = await gateway.GetAsync("/api/jobs/?limit=0", Ct);
        Assert.Equal("limit", await PlatformAccess.ProblemParamAsync(badLimit));
    }

    [Fact]
    public async Task Events_metrics_checkpoints_and_comparisons_read_what_a_worker_recorded()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var a = (await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1", hyperparameters = new { learning_rate = 1e-4 }, seed = 1 })).GetProperty("id").GetString()!;
        var b = (await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1", hyperparameters = new { learning_rate = 3e-4 }, seed = 1 })).GetProperty("id").GetString()!;
        await using (var db = await Platform.OpenDbAsync())
        {
            var now = DateTimeOffset.UtcNow;
            foreach (var step in new[] { 1, 2, 3 })
            {
                db.JobMetrics.Add(new JobMetric { JobId = a, Key = "train_loss", Step = step, Value = 3.0 - step * 0.5, RecordedAt = now });
                db.JobMetrics.Add(new JobMetric { JobId = b, Key = "train_loss", Step = step + 1, Value = 2.9 - step * 0.5, RecordedAt = now });
            }
            db.JobMetrics.Add(new JobMetric { JobId = a, Key = "valid_loss", Step = 3, Value = 1.7, RecordedAt = now });
            db.JobEvents.Add(new JobEvent { JobId = a, Level = "info", Type = "metrics", Message = "step 3/3", Data = """{"step":3}""", CreatedAt = now });
            db.JobCheckpoints.Add(new JobCheckpoint
            {
                Id = Guid.NewGuid(), JobId = a, Step = 3, ObjectPrefix = $"jobs/{a}/checkpoints/step-3/", IsBest = true, CreatedAt = now,
                Metrics = """{"train_loss":1.5,"valid_loss":1.7,"train_mean_token_accuracy":0.4,"valid_mean_token_accuracy":0.35}""",
            });
            await db.SaveChangesAsync(Ct);
        }

        using var events = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{a}/events?limit=1", Ct);
        var newest = events!.RootElement.GetProperty("data")[0];
        Assert.Equal("step 3/3", newest.GetProperty("message").GetString());
        Assert.Equal(3, newest.GetProperty("data").GetProperty("step").GetInt32());
        Assert.True(events.RootElement.GetProperty("has_more").GetBoolean()); // the creation events are older
        using var older = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{a}/events?after={newest.GetProperty("id").GetInt64()}", Ct);
        Assert.DoesNotContain(older!.RootElement.GetProperty("data").EnumerateArray(), e => e.GetProperty("message").GetString() == "step 3/3");

        using var metrics = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{a}/metrics?keys=train_loss&from_step=2", Ct);
        var trainLoss = metrics!.RootElement.GetProperty("series").GetProperty("train_loss");
        Assert.Equal([2, 3], trainLoss.GetProperty("steps").EnumerateArray().Select(s => s.GetInt32()));
        Assert.Equal([2.0, 1.5], trainLoss.GetProperty("values").EnumerateArray().Select(s => s.GetDouble()));
        Assert.False(metrics.RootElement.GetProperty("series").TryGetProperty("valid_loss", out _));

        using var checkpoints = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/{a}/checkpoints", Ct);
        var checkpoint = checkpoints!.RootElement.GetProperty("data")[0];
        Assert.Equal(3, checkpoint.GetProperty("step_number").GetInt32());
        Assert.Equal(1.7, checkpoint.GetProperty("metrics").GetProperty("valid_loss").GetDouble());
        Assert.EndsWith($"{a}:ckpt-step-3", checkpoint.GetProperty("fine_tuned_model_checkpoint").GetString());

        using var comparison = await gateway.GetFromJsonAsync<JsonDocument>($"/api/jobs/compare?ids={a},{b}", Ct);
        var differing = comparison!.RootElement.GetProperty("hyperparameters");
        Assert.Equal(3e-4, differing.GetProperty("learning_rate").GetProperty(b).GetDouble());
        Assert.False(differing.TryGetProperty("batch_size", out _)); // the same in both: not shown
        var aligned = comparison.RootElement.GetProperty("metrics").GetProperty("train_loss");
        Assert.Equal([1, 2, 3, 4], aligned.GetProperty("steps").EnumerateArray().Select(s => s.GetInt32()));
        Assert.Equal(JsonValueKind.Null, aligned.GetProperty("series").GetProperty(a)[3].ValueKind);
        Assert.Equal(JsonValueKind.Null, aligned.GetProperty("series").GetProperty(b)[0].ValueKind);

        using var missing = await gateway.GetAsync($"/api/jobs/compare?ids={a},ftjob-000000000000000000000000", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("ids", await PlatformAccess.ProblemParamAsync(missing));
    }

    [Fact]
    public async Task The_stream_sends_the_job_then_live_updates_and_ends_when_the_job_ends()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var id = (await CreateAsync(gateway, new { base_model = model, training_data = $"{data}@1" })).GetProperty("id").GetString()!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));

        using var response = await gateway.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/api/jobs/{id}/stream"), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));

        var (type, first) = await NextEventAsync(reader, timeout.Token);
        Assert.Equal("status", type);
        Assert.Equal(id, first.GetProperty("id").GetString());
        Assert.Equal("queued", first.GetProperty("status").GetString());

        await using (var redis = await Platform.ConnectRedisAsync())
        {
            var update = new LiveUpdate(LiveUpdate.Metrics, id, JsonSerializer.SerializeToElement(new { step = 5, total_steps = 10, train_loss = 1.25 }), DateTimeOffset.UtcNow);
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(RedisKeys.JobLive(id)), update.ToJson());
        }
        var (metricsType, metrics) = await NextEventAsync(reader, timeout.Token);
        Assert.Equal("metrics", metricsType);
        Assert.Equal(1.25, metrics.GetProperty("data").GetProperty("train_loss").GetDouble());

        (await gateway.PostAsync($"/api/jobs/{id}/cancel", null, timeout.Token)).EnsureSuccessStatusCode();
        var (lastType, last) = await NextEventAsync(reader, timeout.Token);
        Assert.Equal("status", lastType);
        Assert.Equal("cancelled", last.GetProperty("status").GetString());
        Assert.Null(await reader.ReadLineAsync(timeout.Token) is { Length: > 0 } more ? more : null); // ended
    }

    /// <summary>The next server-sent event (comments skipped): its type and JSON data.</summary>
    private static async Task<(string Type, JsonElement Data)> NextEventAsync(StreamReader reader, CancellationToken ct)
    {
        string? type = null;
        var data = new StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) type = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line[6..]);
            else if (line.Length == 0 && data.Length > 0) return (type ?? "message", JsonSerializer.Deserialize<JsonElement>(data.ToString()));
        }
        throw new EndOfStreamException("The stream ended before the next event.");
    }

    [Fact]
    public async Task Fifty_jobs_posted_at_once_are_fifty_jobs_each_enqueued_exactly_once()
    {
        using var setup = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(setup);
        var data = await PlatformAccess.UploadChatAsync(setup);

        var responses = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            using var client = Platform.CreateGatewayClient();
            using var response = await client.PostAsJsonAsync("/api/jobs/", new { model_name = model, dataset_path = $"{data}@1", learning_rate = 1e-5 * (i + 1) }, Ct);
            return (response.StatusCode, Body: await response.Content.ReadFromJsonAsync<JsonElement>(Ct));
        }));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        var ids = responses.Select(r => r.Body.GetProperty("id").GetString()!).ToList();
        Assert.Equal(50, ids.Distinct().Count());
        var counts = await Platform.StreamCountsAsync();
        Assert.All(ids, id => Assert.Equal(1, counts.GetValueOrDefault(id)));
        await using var db = await Platform.OpenDbAsync();
        Assert.Equal(50, await db.Jobs.CountAsync(j => ids.Contains(j.Id) && j.Status == JobStatus.Queued, Ct));
    }

    [Fact]
    public async Task A_grid_sweep_creates_a_job_per_point_and_names_the_best_by_valid_loss()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var before = await Platform.CountRowsAsync();
        using (var invalid = await gateway.PostAsJsonAsync("/api/sweeps", new
        {
            base_model = model, training_data = $"{data}@1", search = "grid",
            parameters = new { learning_rate = new[] { 1e-4, -1 } },
        }, Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            Assert.Equal("parameters.learning_rate", await PlatformAccess.ProblemParamAsync(invalid));
        }
        Assert.Equal(before, await Platform.CountRowsAsync());

        using var created = await gateway.PostAsJsonAsync("/api/sweeps", new
        {
            base_model = model, training_data = $"{data}@1", search = "grid", name = "lr-by-batch",
            parameters = new { learning_rate = new[] { 1e-4, 3e-4 }, batch_size = new[] { 2, 4 } },
        }, Ct);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var sweep = await created.Content.ReadFromJsonAsync<JsonElement>(Ct);
        var jobs = sweep.GetProperty("jobs").EnumerateArray().ToList();
        Assert.Equal(4, jobs.Count);
        Assert.Equal(4, jobs.Select(j => (j.GetProperty("hyperparameters").GetProperty("learning_rate").GetDouble(), j.GetProperty("hyperparameters").GetProperty("batch_size").GetInt32())).Distinct().Count());
        Assert.Single(jobs.Select(j => j.GetProperty("seed").GetInt64()).Distinct());
        Assert.Equal(JsonValueKind.Null, sweep.GetProperty("best_job_id").ValueKind);

        var (better, worse) = (jobs[2].GetProperty("id").GetString()!, jobs[0].GetProperty("id").GetString()!);
        await using (var db = await Platform.OpenDbAsync())
        {
            await db.Jobs.Where(j => j.Id == better || j.Id == worse).ExecuteUpdateAsync(s => s.SetProperty(j => j.Status, JobStatus.Succeeded), Ct);
            db.JobMetrics.Add(new JobMetric { JobId = better, Key = "valid_loss", Step = 10, Value = 1.1, RecordedAt = DateTimeOffset.UtcNow });
            db.JobMetrics.Add(new JobMetric { JobId = worse, Key = "valid_loss", Step = 10, Value = 1.4, RecordedAt = DateTimeOffset.UtcNow });
            await db.SaveChangesAsync(Ct);
        }
        using var fetched = await gateway.GetFromJsonAsync<JsonDocument>($"/api/sweeps/{sweep.GetProperty("id").GetGuid()}", Ct);
        Assert.Equal(better, fetched!.RootElement.GetProperty("best_job_id").GetString());
        Assert.Equal(1.1, fetched.RootElement.GetProperty("best_valid_loss").GetDouble());
    }

    [Fact]
    public async Task A_random_sweep_draws_seeded_trials_inside_the_ranges()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = await BaseModelAsync(gateway);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        var body = new
        {
            base_model = model, training_data = $"{data}@1", seed = 3, search = "random", max_trials = 5,
            parameters = new { learning_rate = new { min = 1e-5, max = 1e-3, log = true }, batch_size = new[] { 2, 4, 8 } },
        };

        async Task<List<(double LearningRate, int BatchSize)>> TrialsAsync()
        {
            using var response = await gateway.PostAsJsonAsync("/api/sweeps", body, Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            var sweep = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            return sweep.GetProperty("jobs").EnumerateArray().Select(j => j.GetProperty("hyperparameters"))
                .Select(h => (h.GetProperty("learning_rate").GetDouble(), h.GetProperty("batch_size").GetInt32())).ToList();
        }
        var first = await TrialsAsync();
        var second = await TrialsAsync();

        Assert.Equal(5, first.Count);
        Assert.All(first, t => Assert.InRange(t.LearningRate, 1e-5, 1e-3));
        Assert.All(first, t => Assert.Contains(t.BatchSize, new[] { 2, 4, 8 }));
        Assert.Equal(first.Select(t => t.LearningRate).Order(), second.Select(t => t.LearningRate).Order());
        using var badRange = await gateway.PostAsJsonAsync("/api/sweeps", new
        {
            base_model = model, training_data = $"{data}@1", search = "random",
            parameters = new { learning_rate = new { min = 0, max = 1e-3, log = true } },
        }, Ct);
        Assert.Equal("parameters.learning_rate.min", await PlatformAccess.ProblemParamAsync(badRange));
    }
}
