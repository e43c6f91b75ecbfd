using System.ClientModel;
using System.Net;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>The OpenAI endpoints over real HTTP: shapes exact enough for the OpenAI SDK, text equal to TextGenerator's.</summary>
public class OpenAiApiTests(TinyServer tiny) : IClassFixture<TinyServer>
{
    HttpClient Client => tiny.Client;

    static object User(string content) => new[] { new { role = "user", content } };

    [Fact]
    public async Task Chat_completion_is_openai_shaped_and_its_usage_counts_the_tokenizer_tokens()
    {
        var expected = tiny.Chat("Hello there", 24);
        var started = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        var (response, body) = await PostAsync(Client, "/v1/chat/completions", new { model = "tiny", messages = User("Hello there"), max_tokens = 24, temperature = 0 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("tiny@1", response.Headers.GetValues("X-Model-Version").Single());
        Assert.StartsWith("chatcmpl-", body.GetProperty("id").GetString());
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.InRange(body.GetProperty("created").GetInt64(), started - 1, started + 60);
        Assert.Equal("tiny", body.GetProperty("model").GetString());
        Assert.Equal("tiny@1", body.GetProperty("system_fingerprint").GetString());
        var choice = body.GetProperty("choices").EnumerateArray().Single();
        Assert.Equal(0, choice.GetProperty("index").GetInt32());
        Assert.Equal("assistant", choice.GetProperty("message").GetProperty("role").GetString());
        Assert.Equal(expected.Text, choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal(expected.FinishReason == Modeling.FinishReason.Stop ? "stop" : "length", choice.GetProperty("finish_reason").GetString());
        var usage = body.GetProperty("usage");
        var promptTokens = new Modeling.TextGenerator(tiny.Reference).EncodeChat([Tokenization.ChatMessage.FromUser("Hello there")]).Count;
        Assert.Equal(promptTokens, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.Usage.CompletionTokens, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(promptTokens + expected.Usage.CompletionTokens, usage.GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task The_openai_sdk_reads_models_and_chat_replies_whole_and_streamed()
    {
        var options = new OpenAIClientOptions { Endpoint = new Uri(tiny.Server.Address, "/v1") };
        var models = await new OpenAI.Models.OpenAIModelClient(new ApiKeyCredential("x"), options).GetModelsAsync(Cancel);
        Assert.Equal("tiny", Assert.Single(models.Value).Id);

        var chat = new ChatClient("tiny", new ApiKeyCredential("x"), options);
        var expected = tiny.Chat("What is a slot?", 32);
        var settings = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 32 };
        ChatMessage[] conversation = [new SystemChatMessage("Be brief."), new UserChatMessage("What is a slot?")];
        var withSystem = new Modeling.TextGenerator(tiny.Reference).Chat(
            [Tokenization.ChatMessage.FromSystem("Be brief."), Tokenization.ChatMessage.FromUser("What is a slot?")],
            new Modeling.TextGenerationOptions { Sampling = Modeling.SamplingOptions.Greedy(32) }, Cancel);

        ChatCompletion whole = await chat.CompleteChatAsync(conversation, settings, Cancel);
        Assert.Equal(withSystem.Text, whole.Content.Count == 0 ? "" : whole.Content[0].Text);
        Assert.Equal(withSystem.Usage.PromptTokens, whole.Usage.InputTokenCount);
        Assert.Equal(withSystem.Usage.CompletionTokens, whole.Usage.OutputTokenCount);
        Assert.Equal(withSystem.FinishReason == Modeling.FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, whole.FinishReason);
        Assert.Equal("tiny", whole.Model);

        var text = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("What is a slot?")], settings, Cancel))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(expected.Text, text.ToString());
        Assert.Equal(expected.FinishReason == Modeling.FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length, finish);
        Assert.NotNull(usage); // the SDK asks for stream_options.include_usage
        Assert.Equal(expected.Usage.CompletionTokens, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Streamed_chat_sends_the_role_then_content_then_the_finish_reason_the_usage_and_done()
    {
        var expected = tiny.Chat("Stream it", 40);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent(new { model = "tiny", messages = User("Stream it"), max_tokens = 40, temperature = 0, stream = true, stream_options = new { include_usage = true } }),
        };
        using var response = await Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("tiny@1", response.Headers.GetValues("X-Model-Version").Single());
        var events = await EventsAsync(response);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.All(chunks, c => Assert.Equal("tiny@1", c.GetProperty("system_fingerprint").GetString()));

        var first = chunks[0].GetProperty("choices")[0];
        Assert.Equal("assistant", first.GetProperty("delta").GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.Null, first.GetProperty("finish_reason").ValueKind);
        var usageChunk = chunks[^1];
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        Assert.Equal(expected.Usage.PromptTokens, usageChunk.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.Usage.CompletionTokens, usageChunk.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal(expected.FinishReason == Modeling.FinishReason.Stop ? "stop" : "length", finish.GetProperty("finish_reason").GetString());
        var content = chunks[1..^2].Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()).ToList();
        Assert.Equal(expected.Text, string.Concat(content));
        Assert.True(content.Count > 1 || expected.Text.Length <= 1, "text should arrive in pieces as tokens are generated");
    }

    [Fact]
    public async Task Text_completions_whole_and_streamed_equal_text_generator_and_stop_strings_cut_them()
    {
        const string prompt = "Once upon a time";
        var expected = tiny.Complete(prompt, 48);
        var (response, body) = await PostAsync(Client, "/v1/completions", new { model = "tiny", prompt, max_tokens = 48, temperature = 0 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("cmpl-", body.GetProperty("id").GetString());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(expected.Text, choice.GetProperty("text").GetString());
        Assert.Equal(expected.Usage.PromptTokens, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(expected.Usage.CompletionTokens, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        using var streamed = await Client.PostAsync("/v1/completions",
            JsonContent(new { model = "tiny@1", prompt, max_tokens = 48, temperature = 0, stream = true }), Cancel);
        var events = await EventsAsync(streamed);
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement.GetProperty("choices")[0]).ToList();
        Assert.Equal(expected.Text, string.Concat(chunks.Select(c => c.GetProperty("text").GetString())));
        Assert.Equal(expected.FinishReason == Modeling.FinishReason.Stop ? "stop" : "length", chunks[^1].GetProperty("finish_reason").GetString());

        // A stop string taken from the reply itself: the text ends right before it, as TextGenerator cuts it.
        Assert.True(expected.Text.Length > 8, $"the reply is too short to cut: '{expected.Text}'");
        var stop = expected.Text.Substring(5, 2);
        var cut = tiny.Complete(prompt, 48, stop, "zzzz");
        var (_, cutBody) = await PostAsync(Client, "/v1/completions", new { model = "tiny", prompt, max_tokens = 48, temperature = 0, stop = new[] { stop, "zzzz" } });
        Assert.Equal(cut.Text, cutBody.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", cutBody.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.DoesNotContain(stop, cut.Text);
    }

    [Fact]
    public async Task Generate_replies_to_the_prompt_as_a_user_message()
    {
        var expected = tiny.Chat("Tell me about slots", 20);
        var (response, body) = await PostAsync(Client, "/generate", new { prompt = "Tell me about slots", max_length = 20 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("tiny@1", response.Headers.GetValues("X-Model-Version").Single());
        Assert.Equal(expected.Text, body.GetProperty("response").GetString());
        Assert.Single(body.EnumerateObject());

        var (missing, problem) = await PostAsync(Client, "/generate", new { max_length = 20 });
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        Assert.Equal("prompt", problem.GetProperty("param").GetString());
        var (unknown, _) = await PostAsync(Client, "/generate", new { prompt = "hi", model = "nope" });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Models_lists_the_served_version_with_its_alias_and_lineage()
    {
        var (response, body) = (await Client.GetAsync("/v1/models", Cancel), default(JsonElement));
        body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal("list", body.GetProperty("object").GetString());
        var model = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.Equal("tiny", model.GetProperty("id").GetString());
        Assert.Equal("model", model.GetProperty("object").GetString());
        Assert.Equal("assistant", model.GetProperty("owned_by").GetString());
        Assert.True(model.GetProperty("created").GetInt64() > 1_600_000_000);
        Assert.Equal(1, model.GetProperty("version").GetInt32());
        Assert.Equal("tiny@1", model.GetProperty("root").GetString());
        Assert.Equal(JsonValueKind.Null, model.GetProperty("parent").ValueKind);
        Assert.Equal(JsonValueKind.Null, model.GetProperty("alias").ValueKind); // a static folder follows no alias
        Assert.Equal("folder", model.GetProperty("lineage").GetProperty("source").GetString());
    }

    public static TheoryData<string, string, int, string?, string?> BadRequests => new()
    {
        { "/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [", 400, null, "invalid_json" },
        { "/v1/chat/completions", "[1, 2]", 400, null, "invalid_json" },
        { "/v1/chat/completions", """{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}""", 404, "model", "model_not_found" },
        { "/v1/chat/completions", """{"model": "tiny@2", "messages": [{"role": "user", "content": "hi"}]}""", 404, "model", "model_not_found" },
        // A static folder follows no alias, so name:alias names nothing here.
        { "/v1/chat/completions", """{"model": "tiny:production", "messages": [{"role": "user", "content": "hi"}]}""", 404, "model", "model_not_found" },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}""", 400, "max_tokens", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 0}""", 400, "max_completion_tokens", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "n": 2}""", 400, "n", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""", 400, "temperature", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": 2.5}""", 400, "temperature", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "top_p": 0}""", 400, "top_p", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}""", 400, "stop", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}""", 400, "stream", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "seed": 1.5}""", 400, "seed", null },
        { "/v1/chat/completions", """{"model": "tiny"}""", 400, "messages", null },
        { "/v1/chat/completions", """{"messages": [{"role": "user", "content": "hi"}]}""", 400, "model", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "tool", "content": "hi"}]}""", 400, "messages[0].role", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", 400, "messages[0].content[0].type", null },
        { "/v1/chat/completions", """{"model": "tiny", "messages": [{"role": "user", "content": 42}]}""", 400, "messages[0].content", null },
        { "/v1/chat/completions", $$"""{"model": "tiny", "messages": [{"role": "user", "content": "{{new string('x', 300)}}"}]}""", 400, "messages", "context_length_exceeded" },
        { "/v1/completions", """{"model": "tiny"}""", 400, "prompt", null },
        { "/v1/completions", """{"model": "tiny", "prompt": [1, 2, 3]}""", 400, "prompt", null },
        { "/v1/completions", """{"model": "tiny", "prompt": "hi", "max_tokens": "ten"}""", 400, "max_tokens", null },
        { "/v1/completions", $$"""{"model": "tiny", "prompt": "{{new string('x', 300)}}"}""", 400, "prompt", "context_length_exceeded" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_requests_get_openai_errors_naming_the_parameter(string path, string json, int status, string? param, string? code)
    {
        var (response, body) = await PostRawAsync(Client, path, json);
        OpenAiError(response, body, status, param, code);
    }

    [Fact]
    public async Task Mixed_parts_of_text_are_one_message_and_developer_is_system()
    {
        var expected = new Modeling.TextGenerator(tiny.Reference).Chat(
            [Tokenization.ChatMessage.FromSystem("Rules."), Tokenization.ChatMessage.FromUser("one\ntwo")],
            new Modeling.TextGenerationOptions { Sampling = Modeling.SamplingOptions.Greedy(16) }, Cancel);
        var (response, body) = await PostAsync(Client, "/v1/chat/completions", new
        {
            model = "tiny",
            messages = new object[]
            {
                new { role = "developer", content = "Rules." },
                new { role = "user", content = new[] { new { type = "text", text = "one" }, new { type = "text", text = "two" } } },
            },
            max_tokens = 16,
            temperature = 0,
        });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected.Text, body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal(expected.Usage.PromptTokens, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Health_lists_the_model_ready_alive_is_cheap_and_metrics_are_exposed()
    {
        using var health = await Client.GetAsync("/health", Cancel);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal("Healthy", body.GetProperty("status").GetString());
        var model = Assert.Single(body.GetProperty("models").EnumerateArray());
        Assert.Equal(("tiny", 1, "ready"), (model.GetProperty("name").GetString(), model.GetProperty("version").GetInt32(), model.GetProperty("state").GetString()));

        using var alive = await Client.GetAsync("/alive", Cancel);
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);

        await PostAsync(Client, "/v1/completions", new { model = "tiny", prompt = "metrics", max_tokens = 4, temperature = 0 });
        var metrics = await Client.GetStringAsync("/metrics", Cancel);
        foreach (var name in new[]
        {
            "assistant_inference_requests_running", "assistant_inference_requests_waiting", "assistant_inference_time_to_first_token_seconds_bucket",
            "assistant_inference_inter_token_latency_seconds_bucket", "assistant_inference_tokens_generated", "assistant_inference_tokens_prompt",
            "assistant_inference_requests_total", "assistant_inference_model_info",
        })
        {
            Assert.Contains(name, metrics);
        }
        Assert.Contains("version=\"1\"", metrics);
    }

    static HttpContent JsonContent(object body) => System.Net.Http.Json.JsonContent.Create(body);
}
