using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary>
/// <c>assistant deploy MODEL@VERSION | JOB_ID</c>: moves an alias (production by default) and waits until every
/// inference replica serves the version; <c>assistant deployments</c>: what each replica serves now.
/// </summary>
internal static class DeployCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("target") { Description = "NAME@VERSION of a registered model, or the id of a succeeded job (ftjob-...)." };
        var alias = new Option<string>("--alias") { Description = "Alias to move.", DefaultValueFactory = _ => "production" };
        var force = new Option<bool>("--force") { Description = "Deploy even when the version evaluates worse than the one production serves." };
        var reason = new Option<string?>("--reason") { Description = "Why (kept in the alias history)." };
        var noWait = new Option<bool>("--no-wait") { Description = "Return once the alias moved, without waiting for the replicas." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for every replica to serve the version.", DefaultValueFactory = _ => 180 };
        var command = new Command("deploy", "Deploy a model version: move an alias and wait until every inference replica serves it.")
        {
            target, alias, force, reason, noWait, timeout, GatewayConnection.Gateway, GatewayConnection.ApiKey,
        };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var text = parse.GetValue(target)!;
            var aliasName = parse.GetValue(alias)!;
            // NAME@VERSION names the model and version; a job's deploy learns them from the answer.
            JsonDocument? moved;
            int code;
            string? model = null;
            var version = 0;
            if (text.StartsWith("ftjob-", StringComparison.Ordinal))
            {
                var query = $"?alias={Uri.EscapeDataString(aliasName)}&force={(parse.GetValue(force) ? "true" : "false")}"
                    + (parse.GetValue(reason) is { } why ? $"&reason={Uri.EscapeDataString(why)}" : "");
                (moved, code) = await SendAsync(http, HttpMethod.Post, $"api/deploy/{Uri.EscapeDataString(text)}{query}", null, error, ct);
            }
            else
            {
                var at = text.LastIndexOf('@');
                if (at <= 0 || !int.TryParse(text.AsSpan(at + 1), NumberStyles.None, CultureInfo.InvariantCulture, out version) || version < 1)
                    throw new ArgumentValueException($"'{text}' is not NAME@VERSION (e.g. support-bot@3) or a job id.");
                model = text[..at];
                var body = new JsonObject { ["version"] = version, ["reason"] = parse.GetValue(reason), ["force"] = parse.GetValue(force) };
                (moved, code) = await SendAsync(http, HttpMethod.Put,
                    $"api/models/{Uri.EscapeDataString(model)}/aliases/{Uri.EscapeDataString(aliasName)}", body, error, ct);
            }
            if (moved is null) return code;
            using (moved)
            {
                var root = moved.RootElement;
                model ??= Text(root, "model");
                if (version == 0) version = (int)Number(root, "version")!.Value;
                var from = Number(root, "previous_version") ?? Number(root, "from_version");
                await output.WriteLineAsync($"{model}:{aliasName} -> version {version}{(from is double f ? $" (was {f})" : "")}");
                if (root.TryGetProperty("gate", out var gate) && gate.GetProperty("gated").GetBoolean())
                {
                    await output.WriteLineAsync($"  gate: {Text(gate, "reason")}{(gate.GetProperty("forced").GetBoolean() ? " (forced)" : "")}");
                }
            }
            if (parse.GetValue(noWait)) return 0;
            return await WaitAsync(http, model, aliasName, version, TimeSpan.FromSeconds(parse.GetValue(timeout)), output, error, ct);
        }));
        return command;
    }

    /// <summary>Polls the deployments until every live replica serves <paramref name="version"/>, printing each replica as it gets there.</summary>
    private static async Task<int> WaitAsync(HttpClient http, string model, string alias, int version, TimeSpan timeout, TextWriter output, TextWriter error, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var reported = new HashSet<string>();
        while (true)
        {
            var (list, code) = await GetAsync(http, "api/deployments", error, ct);
            if (list is null) return code;
            using (list)
            {
                var replicas = list.RootElement.GetProperty("replicas").GetArrayLength();
                if (replicas == 0)
                {
                    await output.WriteLineAsync("  no inference replica is running; the version is served when one starts.");
                    return 0;
                }
                var state = list.RootElement.GetProperty("data").EnumerateArray()
                    .FirstOrDefault(d => Text(d, "model") == model && Text(d, "alias") == alias);
                if (state.ValueKind == JsonValueKind.Object)
                {
                    var serving = state.GetProperty("replicas").EnumerateArray().ToList();
                    foreach (var replica in serving.Where(r => Number(r, "version") == version && Text(r, "state") == "ready"))
                    {
                        if (reported.Add(Text(replica, "replica")))
                            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"  {Text(replica, "replica")} serves version {version} ({clock.Elapsed.TotalSeconds:F1} s)"));
                    }
                    if (state.GetProperty("converged").GetBoolean())
                    {
                        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Deployed: {serving.Count} replica(s) serve {model}@{version} after {clock.Elapsed.TotalSeconds:F1} s."));
                        return 0;
                    }
                    if (clock.Elapsed > timeout)
                    {
                        var lagging = serving.Where(r => !(Number(r, "version") == version && Text(r, "state") == "ready"))
                            .Select(r => $"{Text(r, "replica")} ({Text(r, "state")}{(Text(r, "version") is { Length: > 0 } v ? $" v{v}" : "")}{(Text(r, "error") is { Length: > 0 } e ? $": {e}" : "")})");
                        await error.WriteLineAsync($"error: after {timeout.TotalSeconds:F0} s not every replica serves {model}@{version}: {string.Join(", ", lagging)}.");
                        return 1;
                    }
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
        }
    }

    public static Command CreateList()
    {
        var command = new Command("deployments", "Show which model version each inference replica serves.")
        {
            GatewayConnection.Gateway, GatewayConnection.ApiKey,
        };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (list, code) = await GetAsync(http, "api/deployments", error, ct);
            if (list is null) return code;
            using (list)
            {
                await output.WriteLineAsync($"{"MODEL",-28} {"ALIAS",-12} {"VERSION",7} {"CONVERGED",-9} REPLICAS");
                foreach (var d in list.RootElement.GetProperty("data").EnumerateArray())
                {
                    var replicas = string.Join(' ', d.GetProperty("replicas").EnumerateArray()
                        .Select(r => $"{Text(r, "replica")}={(Text(r, "version") is { Length: > 0 } v ? "v" + v : "-")}/{Text(r, "state")}"));
                    await output.WriteLineAsync($"{Text(d, "model"),-28} {Text(d, "alias"),-12} {Text(d, "version"),7} {(d.GetProperty("converged").GetBoolean() ? "yes" : "no"),-9} {replicas}");
                }
                var live = list.RootElement.GetProperty("replicas").GetArrayLength();
                await output.WriteLineAsync($"{live} inference replica(s) live.");
            }
            return 0;
        }));
        return command;
    }
}
