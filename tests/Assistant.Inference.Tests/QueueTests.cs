using System.Net;
using System.Net.Http.Json;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>
/// One slot and a queue of one: a long request holds the slot, the next waits, the one after is refused at once; a client
/// that goes away frees its slot for the waiting one.
/// </summary>
public sealed class QueueTests : IAsyncLifetime
{
    readonly TempFolder temp = new();
    InferenceServer server = null!;

    public async ValueTask InitializeAsync()
    {
        // Long context and no stop token: a greedy request of 16000 tokens holds the slot for seconds unless its client leaves.
        TinyModel.Create(temp.Sub("long"), seed: 5, context: 16384, neverEnds: true);
        server = await InferenceServer.StartAsync(temp.Sub("long"), "long", maxBatch: 1, queueLimit: 1);
    }

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        temp.Dispose();
    }

    [Fact]
    public async Task A_full_queue_is_refused_at_once_with_retry_after_and_a_client_that_leaves_frees_its_slot()
    {
        using var outcomes = new CounterWatch("assistant.inference.requests");
        var engine = server.Host.Served[0].Engine;
        var client = server.Client;

        using var leaves = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        using var holding = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = JsonContent.Create(new { model = "long", prompt = "hold", max_tokens = 16000, temperature = 0, stream = true }),
        };
        var first = await client.SendAsync(holding, HttpCompletionOption.ResponseHeadersRead, leaves.Token);
        var firstBody = new StreamReader(await first.Content.ReadAsStreamAsync(leaves.Token));
        Assert.StartsWith("data: ", await firstBody.ReadLineAsync(leaves.Token));
        Assert.Equal(1, engine.Running);

        var waiting = PostAsync(client, "/v1/completions", new { model = "long", prompt = "wait", max_tokens = 8, temperature = 0 });
        await Wait.UntilAsync(() => engine.Waiting == 1, "the second request waits");

        var (refused, error) = await PostAsync(client, "/v1/chat/completions", new { model = "long", messages = new[] { new { role = "user", content = "no room" } }, max_tokens = 8 });
        OpenAiError(refused, error, 429, null, "queue_full", type: "server_overloaded");
        Assert.True(int.Parse(refused.Headers.GetValues("Retry-After").Single()) >= 1);
        Assert.Equal("long@1", refused.Headers.GetValues("X-Model-Version").Single());
        var (refusedGenerate, problem) = await PostAsync(client, "/generate", new { prompt = "no room", max_length = 8 });
        Assert.Equal(HttpStatusCode.TooManyRequests, refusedGenerate.StatusCode);
        Assert.True(refusedGenerate.Headers.RetryAfter is not null, "the classic endpoint says when to retry too");
        Assert.Equal(429, problem.GetProperty("status").GetInt32());

        // The first client goes away mid-stream: its slot frees at the next step and the waiting request runs.
        leaves.Cancel();
        first.Dispose();
        var (served, reply) = await waiting;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(8, reply.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        await Wait.UntilAsync(() => engine.Running == 0 && engine.Waiting == 0, "the engine is idle");
        Assert.Equal(1, outcomes.Sum(("outcome", "cancelled"), ("model", "long")));
        Assert.Equal(2, outcomes.Sum(("outcome", "rejected"), ("model", "long")));
        Assert.Equal(1, outcomes.Sum(("outcome", "length"), ("model", "long")));
    }
}
