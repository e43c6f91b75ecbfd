using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Jobs;
using Microsoft.EntityFrameworkCore;
using OpenAI;
using OpenAI.Chat;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// Serving through the gateway as an application sees it: the official OpenAI .NET SDK with an API key, against two
/// versions of a real (tiny, random) Llama model that the tests import and deploy by moving the production alias.
/// </summary>
public sealed class ServingTests(PlatformFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private RunningPlatform Platform => fixture.Platform;

    private static readonly SemaphoreSlim Setup = new(1, 1);
    private static string? _model;

    /// <summary>The name of a model with two versions, imported once per platform, production on version 1 at first.</summary>
    private async Task<string> ModelAsync()
    {
        await Setup.WaitAsync(Ct);
        try
        {
            if (_model is not null) return _model;
            var name = DatasetsApiTests.UniqueName("serve");
            using var gateway = Platform.CreateGatewayClient();
            foreach (var seed in new[] { 1, 2 })
            {
                var folder = Path.Combine(Path.GetTempPath(), $"assistant-serve-{Guid.NewGuid():N}");
                var (exit, output, error) = await CliTests.RunAsync("model", "init", "--arch", "llama", "--preset", "tiny", "--seed", $"{seed}", "--out", folder);
                Assert.True(exit == 0, output + error);
                using var imported = await gateway.PostAsJsonAsync("/api/models/import", new { path = folder, name }, Ct);
                Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync(Ct));
            }
            await MoveProductionAsync(gateway, name, 1);
            await WaitUntilServedAsync(gateway, name, 1);
            return _model = name;
        }
        finally
        {
            Setup.Release();
        }
    }

    private static async Task<JsonElement> MoveProductionAsync(HttpClient gateway, string name, int version, bool force = false)
    {
        using var moved = await gateway.PutAsJsonAsync($"/api/models/{name}/aliases/production", new { version, reason = "serving tests", force }, Ct);
        var body = await moved.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(moved.IsSuccessStatusCode, body.ToString());
        return body;
    }

    /// <summary>Waits until every live inference replica serves <paramref name="name"/>@<paramref name="version"/>.</summary>
    private static async Task<JsonElement> WaitUntilServedAsync(HttpClient gateway, string name, int version)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement state = default;
        while (DateTime.UtcNow < deadline)
        {
            var deployments = await gateway.GetFromJsonAsync<JsonElement>("/api/deployments", Ct);
            state = deployments.GetProperty("data").EnumerateArray().FirstOrDefault(d => d.GetProperty("model").GetString() == name);
            if (state.ValueKind == JsonValueKind.Object && state.GetProperty("version").GetInt32() == version && state.GetProperty("converged").GetBoolean())
                return state;
            await Task.Delay(250, Ct);
        }
        throw new TimeoutException($"{name}@{version} is not served by every replica after 90 s: {state}");
    }

    private OpenAIClient Client() => new(new ApiKeyCredential(Platform.AdminApiKey), new OpenAIClientOptions { Endpoint = new Uri(Platform.CreateGatewayClient().BaseAddress!, "/v1") });

    private static ChatCompletionOptions Greedy(int tokens) => new() { Temperature = 0, MaxOutputTokenCount = tokens };

    [Fact]
    public async Task The_OpenAI_SDK_lists_models_and_chats_with_and_without_streaming()
    {
        var model = await ModelAsync();
        var client = Client();

        var models = await client.GetOpenAIModelClient().GetModelsAsync(Ct);
        var listed = Assert.Single(models.Value, m => m.Id == model);
        Assert.Equal("assistant", listed.OwnedBy);

        var chat = client.GetChatClient(model);
        List<ChatMessage> messages = [new SystemChatMessage("You answer support questions."), new UserChatMessage("Where is my parcel?")];
        ChatCompletion completion = await chat.CompleteChatAsync(messages, Greedy(12), Ct);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.Matches($"^{model}@[12]$", completion.SystemFingerprint);
        Assert.True(completion.Usage.InputTokenCount > 5);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);
        Assert.Equal(completion.Usage.InputTokenCount + completion.Usage.OutputTokenCount, completion.Usage.TotalTokenCount);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
        var text = completion.Content[0].Text;

        // The same greedy request streamed: the same text, piece by piece, then the finish reason.
        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        var updates = 0;
        string? fingerprint = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Greedy(12), Ct))
        {
            updates++;
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
            fingerprint ??= update.SystemFingerprint;
        }
        Assert.Equal(completion.FinishReason, finish);
        Assert.True(updates >= 2, $"{updates} updates");
        if (fingerprint == completion.SystemFingerprint) Assert.Equal(text, streamed.ToString()); // an alias move in between changes the model
    }

    [Fact]
    public async Task Completions_and_the_seeds_generate_answer_in_their_shapes()
    {
        var model = await ModelAsync();
        var client = Client();

        // The SDK has no client for /v1/completions any more; its pipeline (auth, retries) sends the request.
        var message = client.Pipeline.CreateMessage();
        message.Request.Method = "POST";
        message.Request.Uri = new Uri(Platform.CreateGatewayClient().BaseAddress!, "/v1/completions");
        message.Request.Headers.Set("Content-Type", "application/json");
        message.Request.Content = BinaryContent.Create(BinaryData.FromObjectAsJson(new { model = model, prompt = "The parcel", max_tokens = 6, temperature = 0 }));
        message.Apply(new RequestOptions { CancellationToken = Ct });
        await client.Pipeline.SendAsync(message);
        Assert.Equal(200, message.Response!.Status);
        using var completion = JsonDocument.Parse(message.Response.Content);
        Assert.Equal("text_completion", completion.RootElement.GetProperty("object").GetString());
        var choice = completion.RootElement.GetProperty("choices")[0];
        Assert.Equal(JsonValueKind.String, choice.GetProperty("text").ValueKind);
        Assert.InRange(completion.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), 1, 6);

        using var gateway = Platform.CreateGatewayClient();
        using var generated = await gateway.PostAsJsonAsync("/generate", new { prompt = "Where is my parcel?", max_length = 8 }, Ct);
        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
        var body = await generated.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(JsonValueKind.String, body.GetProperty("response").ValueKind);
    }

    [Fact]
    public async Task Moving_the_alias_under_concurrent_requests_fails_none_and_switches_every_replica()
    {
        var model = await ModelAsync();
        using var gateway = Platform.CreateGatewayClient();
        var from = (await CurrentVersionAsync(gateway, model));
        var to = 3 - from;
        var chat = Client().GetChatClient(model);
        var failures = new ConcurrentQueue<string>();
        var served = new ConcurrentQueue<(DateTime At, string Version)>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        async Task ClientLoopAsync(int client)
        {
            List<ChatMessage> messages = [new UserChatMessage($"Question {client}: my order is late.")];
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    ChatCompletion reply = await chat.CompleteChatAsync(messages, Greedy(6), CancellationToken.None);
                    served.Enqueue((DateTime.UtcNow, reply.SystemFingerprint));
                }
                catch (Exception e)
                {
                    failures.Enqueue($"{e.GetType().Name}: {e.Message}");
                }
            }
        }

        var clients = Enumerable.Range(0, 8).Select(ClientLoopAsync).ToList();
        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
        var movedAt = DateTime.UtcNow;
        await MoveProductionAsync(gateway, model, to, force: true); // the gate test may have scored the versions
        var state = await WaitUntilServedAsync(gateway, model, to);
        var convergedAt = DateTime.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(2), Ct); // requests after every replica switched
        stop.Cancel();
        await Task.WhenAll(clients);

        Assert.Empty(failures);
        Assert.True(state.GetProperty("replicas").GetArrayLength() >= 2, state.ToString());
        Assert.Contains(served, s => s.At < movedAt && s.Version == $"{model}@{from}");
        var after = served.Where(s => s.At > convergedAt.AddMilliseconds(500)).ToList();
        Assert.NotEmpty(after);
        Assert.All(after, s => Assert.Equal($"{model}@{to}", s.Version));
    }

    private static async Task<int> CurrentVersionAsync(HttpClient gateway, string name)
    {
        var deployments = await gateway.GetFromJsonAsync<JsonElement>("/api/deployments", Ct);
        var state = deployments.GetProperty("data").EnumerateArray().First(d => d.GetProperty("model").GetString() == name);
        var version = state.GetProperty("version").GetInt32();
        await WaitUntilServedAsync(gateway, name, version);
        return version;
    }

    [Fact]
    public async Task Bad_requests_get_openai_errors_and_the_replicas_keep_serving()
    {
        var model = await ModelAsync();
        using var gateway = Platform.CreateGatewayClient();

        async Task<(HttpStatusCode Status, JsonElement Error)> PostAsync(string body)
        {
            using var response = await gateway.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"), Ct);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
            return (response.StatusCode, json.GetProperty("error"));
        }

        var (status, error) = await PostAsync("{\"model\": \"" + model + "\", \"messages\": [");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));

        (status, error) = await PostAsync(JsonSerializer.Serialize(new { model = "no-such-model", messages = new[] { new { role = "user", content = "hi" } } }));
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());

        (status, error) = await PostAsync(JsonSerializer.Serialize(new { model = model, max_tokens = -1, messages = new[] { new { role = "user", content = "hi" } } }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("max_tokens", error.GetProperty("param").GetString());

        (status, error) = await PostAsync(JsonSerializer.Serialize(new { model = model, n = 2, messages = new[] { new { role = "user", content = "hi" } } }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("n", error.GetProperty("param").GetString());

        // Over the gateway's body limit: refused before any replica reads it (the client waits for the go-ahead to send).
        var huge = "{\"model\": \"" + model + "\", \"messages\": [{\"role\": \"user\", \"content\": \"" + new string('a', 33 * 1024 * 1024) + "\"}]}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(huge, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using (var oversize = await gateway.SendAsync(request, Ct))
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, oversize.StatusCode);
        }

        ChatCompletion after = await Client().GetChatClient(model).CompleteChatAsync([new UserChatMessage("Still there?")], Greedy(4), Ct);
        Assert.NotNull(after.Content);
    }

    [Fact]
    public async Task Production_does_not_move_to_a_worse_evaluated_version_unless_forced()
    {
        var model = await ModelAsync();
        using var gateway = Platform.CreateGatewayClient();
        var current = await CurrentVersionAsync(gateway, model);
        var candidate = 3 - current;
        var data = await PlatformAccess.UploadChatAsync(gateway, "gate");
        await using (var db = await Platform.OpenDbAsync())
        {
            // Both versions scored on the same test data, the candidate worse, as evaluation workers would record them
            // (an evaluation belongs to a job: a finished one is written here, no worker needs to run it).
            var versions = await db.ModelVersions.Where(v => v.Model!.Name == model).ToDictionaryAsync(v => v.Version, v => v.Id, Ct);
            var dataset = await db.DatasetVersions.SingleAsync(d => d.Dataset!.Name == data, Ct);
            var job = new TrainingJob
            {
                Id = TrainingJob.NewId(), Status = JobStatus.Succeeded, Method = "full", BaseModel = $"{model}@1", BaseModelVersionId = versions[1],
                TrainDatasetVersionId = dataset.Id, TrainSha256 = dataset.Sha256, DatasetRefs = "{}", Hyperparameters = "{}",
                CreatedBy = "serving-tests", CreatedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
            };
            db.Jobs.Add(job);
            foreach (var (version, loss) in new[] { (current, 1.5), (candidate, 2.5) })
            {
                db.Evaluations.Add(new Evaluation
                {
                    Id = Evaluation.NewId(), JobId = job.Id, ModelVersionId = versions[version], DatasetVersionId = dataset.Id,
                    DatasetRef = $"{data}@1", DatasetSha256 = dataset.Sha256, Status = EvaluationStatus.Succeeded,
                    Metrics = JsonSerializer.Serialize(new { test_loss = loss }), CreatedBy = "serving-tests", CreatedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow,
                });
            }
            await db.SaveChangesAsync(Ct);
        }

        using (var refused = await gateway.PutAsJsonAsync($"/api/models/{model}/aliases/production", new { version = candidate }, Ct))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
            Assert.Equal("version", await PlatformAccess.ProblemParamAsync(refused));
        }
        var forced = await MoveProductionAsync(gateway, model, candidate, force: true);
        var gate = forced.GetProperty("gate");
        Assert.True(gate.GetProperty("compared").GetBoolean());
        Assert.True(gate.GetProperty("forced").GetBoolean());
        Assert.Equal(2.5, gate.GetProperty("candidate").GetDouble());
        Assert.Equal(1.5, gate.GetProperty("current").GetDouble());

        // The CLI deploys back (better evaluated: the gate passes) and waits until every replica serves it.
        var (exit, output, error) = await CliTests.RunAsync("deploy", $"{model}@{current}", "--gateway", gateway.BaseAddress!.ToString(), "--api-key", Platform.AdminApiKey);
        Assert.True(exit == 0, output + error);
        Assert.Matches($@"Deployed: \d+ replica\(s\) serve {model}@{current}", output);

        (exit, output, error) = await CliTests.RunAsync("chat", "--model", model, "-m", "Hello?", "--max-tokens", "4", "--gateway", gateway.BaseAddress!.ToString(), "--api-key", Platform.AdminApiKey);
        Assert.True(exit == 0, output + error);
        Assert.NotEqual("", output.Trim('\n'));
    }

    [Fact]
    public async Task A_version_that_is_not_deployed_answers_by_name_and_version_through_the_gateway_loaded_on_demand()
    {
        // A model of its own, registered and never deployed: no replica serves it until a request names it.
        var name = DatasetsApiTests.UniqueName("ondemand");
        var folder = Path.Combine(Path.GetTempPath(), $"assistant-serve-{Guid.NewGuid():N}");
        var (exit, output, error) = await CliTests.RunAsync("model", "init", "--arch", "llama", "--preset", "tiny", "--seed", "7", "--out", folder);
        Assert.True(exit == 0, output + error);
        using var gateway = Platform.CreateGatewayClient();
        using (var imported = await gateway.PostAsJsonAsync("/api/models/import", new { path = folder, name }, Ct))
            Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync(Ct));
        var client = Client();
        var served = await client.GetOpenAIModelClient().GetModelsAsync(Ct);
        Assert.DoesNotContain(served.Value, m => m.Id == name || m.Id == $"{name}@1");

        List<ChatMessage> messages = [new UserChatMessage("Where is my parcel?")];
        ChatCompletion completion = await client.GetChatClient($"{name}@1").CompleteChatAsync(messages, Greedy(12), Ct);
        Assert.Equal($"{name}@1", completion.SystemFingerprint);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 12);

        // Streamed, and by an alias the registry resolves (latest = version 1): the same greedy text from the same version.
        var streamed = new StringBuilder();
        string? fingerprint = null;
        await foreach (var update in client.GetChatClient($"{name}:latest").CompleteChatStreamingAsync(messages, Greedy(12), Ct))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            fingerprint ??= update.SystemFingerprint;
        }
        Assert.Equal($"{name}@1", fingerprint);
        Assert.Equal(completion.Content[0].Text, streamed.ToString());

        // A version the registry does not have is still OpenAI's 404 on the model parameter, naming it.
        var missing = await Assert.ThrowsAsync<ClientResultException>(() => client.GetChatClient($"{name}@9").CompleteChatAsync(messages, Greedy(4), Ct));
        Assert.Equal(404, missing.Status);
        var body = JsonDocument.Parse(missing.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
        Assert.Equal(("model", "model_not_found"), (body.GetProperty("param").GetString(), body.GetProperty("code").GetString()));
        Assert.Contains($"{name}@9", body.GetProperty("message").GetString());
    }
}
