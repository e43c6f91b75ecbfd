using System.CommandLine;
using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant status</c>: is the platform up, and is each of its parts reachable.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the gateway's health report as JSON." };
        var command = new Command("status", "Show the platform's version and the state of every service through the gateway.")
        {
            json,
            GatewayConnection.Gateway,
        };
        command.SetAction((parse, ct) => RunAsync(parse, parse.GetValue(json), ct));
        return command;
    }

    private static Task<int> RunAsync(ParseResult parse, bool asJson, CancellationToken ct) =>
        GatewayConnection.RunAsync(parse, async (http, output, error) =>
    {
        var gateway = parse.GetValue(GatewayConnection.Gateway)!;
        using var response = await http.GetAsync("api/health", ct);
        if (response.Content.Headers.ContentType?.MediaType != "application/json")
        {
            await error.WriteLineAsync($"The gateway at {gateway} answered /api/health with HTTP {(int)response.StatusCode}; the training API is not reachable behind it.");
            return 1;
        }
        using var health = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;

        var root = health.RootElement;
        var healthy = root.GetProperty("status").GetString() == "ok";
        if (asJson)
        {
            await output.WriteLineAsync(JsonSerializer.Serialize(root, new JsonSerializerOptions { WriteIndented = true }));
            return healthy ? 0 : 1;
        }
        await output.WriteLineAsync($"Assistant {root.GetProperty("version").GetString()} at {gateway}");
        await output.WriteLineAsync($"  {"gateway",-14} up");
        await output.WriteLineAsync($"  {"training-api",-14} up");
        foreach (var dependency in root.GetProperty("dependencies").EnumerateObject())
        {
            var ok = dependency.Value.GetProperty("status").GetString() == "ok";
            var detail = ok
                ? $"{dependency.Value.GetProperty("latency_ms").GetDouble():0.#} ms"
                : dependency.Value.GetProperty("error").GetString();
            await output.WriteLineAsync($"  {dependency.Name,-14} {(ok ? "up" : "DOWN"),-5} {detail}");
        }
        var workers = root.GetProperty("workers").EnumerateArray().Count(w => w.GetProperty("alive").GetBoolean());
        await output.WriteLineAsync($"  {"trainer",-14} {(workers > 0 ? "up" : "DOWN"),-5} {workers} worker(s) alive");
        var replicas = root.TryGetProperty("inference", out var inference) ? inference.EnumerateArray().ToList() : [];
        var served = replicas.SelectMany(r => r.GetProperty("models").EnumerateArray())
            .Where(m => m.GetProperty("state").GetString() == "ready")
            .Select(m => $"{m.GetProperty("name").GetString()}@{m.GetProperty("version")}").Distinct().Order().ToList();
        await output.WriteLineAsync($"  {"inference",-14} {(replicas.Count > 0 ? "up" : "DOWN"),-5} {replicas.Count} replica(s), "
            + (served.Count == 0 ? "no model deployed" : $"serving {string.Join(", ", served)}"));
        return healthy ? 0 : 1;
    });
}
