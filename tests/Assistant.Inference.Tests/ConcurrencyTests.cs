using System.Net;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>Continuous batching over HTTP: a request's reply does not depend on what else is decoded beside it.</summary>
public class ConcurrencyTests(TinyServer tiny) : IClassFixture<TinyServer>
{
    const int MaxTokens = 150;

    async Task<(string Text, string Version)> AskAsync(string prompt, bool chat, double temperature = 0, long? seed = null)
    {
        var (response, body) = chat
            ? await PostAsync(tiny.Client, "/v1/chat/completions", new { model = "tiny", messages = new[] { new { role = "user", content = prompt } }, max_tokens = MaxTokens, temperature, seed })
            : await PostAsync(tiny.Client, "/v1/completions", new { model = "tiny", prompt, max_tokens = MaxTokens, temperature, seed });
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.GetRawText());
        var choice = body.GetProperty("choices")[0];
        return (chat ? choice.GetProperty("message").GetProperty("content").GetString()! : choice.GetProperty("text").GetString()!,
            response.Headers.GetValues("X-Model-Version").Single());
    }

    [Fact]
    public async Task Greedy_replies_are_text_generators_alone_and_beside_seven_other_requests()
    {
        var prompts = Enumerable.Range(0, 8).Select(i => $"request {i}: {new string((char)('a' + i), 1 + 3 * i)}").ToArray();
        var expected = prompts.Select((p, i) => i % 2 == 0 ? tiny.Complete(p, MaxTokens).Text : tiny.Chat(p, MaxTokens).Text).ToArray();
        Assert.Equal(8, expected.Distinct().Count());

        Assert.Equal(expected[3], (await AskAsync(prompts[3], chat: true)).Text);

        var engine = tiny.Server.Host.Served[0].Engine;
        var mostRunning = 0;
        using var stop = new CancellationTokenSource();
        var watch = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                mostRunning = Math.Max(mostRunning, engine.Running);
                await Task.Yield();
            }
        }, Cancel);
        var replies = await Task.WhenAll(prompts.Select((p, i) => AskAsync(p, chat: i % 2 == 1)));
        stop.Cancel();
        await watch;

        for (var i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], replies[i].Text);
        Assert.True(mostRunning >= 2, $"the requests should have been decoded together (at most {mostRunning} ran at once)");
    }

    [Fact]
    public async Task Seeded_sampling_gives_each_request_its_own_reproducible_reply()
    {
        var prompts = Enumerable.Range(0, 6).Select(i => $"sample {i}").ToArray();
        var expected = prompts.Select((p, i) => new Modeling.TextGenerator(tiny.Reference).Complete(p, new Modeling.TextGenerationOptions
        {
            Sampling = new Modeling.SamplingOptions { MaxNewTokens = MaxTokens, Temperature = 0.8, Seed = 100 + i },
        }, Cancel).Text).ToArray();

        var replies = await Task.WhenAll(prompts.Select((p, i) => AskAsync(p, chat: false, temperature: 0.8, seed: 100 + i)));

        for (var i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], replies[i].Text);
    }
}
