using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Assistant.Cli.Commands;

/// <summary>
/// <c>assistant chat</c>: a multi-turn conversation with a deployed model through the gateway's OpenAI-compatible
/// <c>/v1/chat/completions</c>, the reply streamed as it is generated. Each line read is a user turn; <c>/reset</c>
/// starts over, <c>/exit</c> or end of input ends. <c>--message</c> asks one question and exits.
/// </summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Model to talk to (default: the first one deployed)." };
        var system = new Option<string?>("--system") { Description = "System message that starts the conversation." };
        var message = new Option<string?>("--message", "-m") { Description = "Ask this one message, print the reply and exit." };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0 = greedy).", DefaultValueFactory = _ => 0.7 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per reply.", DefaultValueFactory = _ => 256 };
        var command = new Command("chat", "Chat with a deployed model (streaming, multi-turn).")
        {
            model, system, message, temperature, maxTokens, GatewayConnection.Gateway, GatewayConnection.ApiKey,
        };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            http.Timeout = Timeout.InfiniteTimeSpan; // a reply streams for as long as it takes; Ctrl+C ends it
            var name = parse.GetValue(model) ?? await FirstModelAsync(http, error, ct);
            if (name is null) return 1;
            var history = new JsonArray();
            if (parse.GetValue(system) is { } text) history.Add(Message("system", text));
            var once = parse.GetValue(message);
            var input = CliApp.Input;
            var interactive = once is null && ReferenceEquals(input, Console.In) && !Console.IsInputRedirected;
            if (interactive) await output.WriteLineAsync($"Chatting with {name}. /reset starts over, /exit or Ctrl+D ends.");
            while (true)
            {
                if (interactive) await output.WriteAsync("you> ");
                var line = once ?? await input.ReadLineAsync(ct);
                if (line is null || line.Trim() == "/exit") return 0;
                if (line.Trim() == "/reset")
                {
                    history.Clear();
                    if (parse.GetValue(system) is { } again) history.Add(Message("system", again));
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                history.Add(Message("user", line));
                var request = new JsonObject
                {
                    ["model"] = name,
                    ["messages"] = history.DeepClone(),
                    ["temperature"] = parse.GetValue(temperature),
                    ["max_tokens"] = parse.GetValue(maxTokens),
                    ["stream"] = true,
                };
                if (interactive) await output.WriteAsync("assistant> ");
                var reply = await StreamReplyAsync(http, request, output, error, ct);
                if (reply is null) return 1;
                history.Add(Message("assistant", reply));
                if (once is not null) return 0;
            }
        }));
        return command;
    }

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    private static async Task<string?> FirstModelAsync(HttpClient http, TextWriter error, CancellationToken ct)
    {
        var (models, code) = await ApiCalls.GetAsync(http, "v1/models", error, ct);
        if (models is null) return null;
        using (models)
        {
            var first = models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).FirstOrDefault();
            if (first is null) await error.WriteLineAsync("error: no model is deployed yet; deploy one with 'assistant deploy NAME@VERSION'.");
            return first;
        }
    }

    /// <summary>Writes the reply's text as its chunks arrive; returns the whole reply, or null after printing the error.</summary>
    private static async Task<string?> StreamReplyAsync(HttpClient http, JsonObject body, TextWriter output, TextWriter error, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = JsonContent.Create(body) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode)
        {
            await ApiErrors.ReportAsync(response, error, ct);
            return null;
        }
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct));
        var reply = new System.Text.StringBuilder();
        while (await reader.ReadLineAsync(ct) is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
            var data = line["data: ".Length..];
            if (data == "[DONE]") break;
            using var chunk = JsonDocument.Parse(data);
            if (chunk.RootElement.TryGetProperty("error", out var problem))
            {
                await output.WriteLineAsync();
                await error.WriteLineAsync($"error: {ApiCalls.Text(problem, "message")}");
                return null;
            }
            foreach (var choice in chunk.RootElement.GetProperty("choices").EnumerateArray())
            {
                if (choice.TryGetProperty("delta", out var delta) && ApiCalls.Text(delta, "content") is { Length: > 0 } piece)
                {
                    reply.Append(piece);
                    await output.WriteAsync(piece);
                    await output.FlushAsync(ct);
                }
            }
        }
        await output.WriteLineAsync();
        return reply.ToString();
    }
}
