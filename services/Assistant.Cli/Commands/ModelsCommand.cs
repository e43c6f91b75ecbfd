using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant models ...</c>: the model registry (list, show with lineage, move aliases).</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "The model registry: registered models, versions, lineage and aliases.")
        {
            List(), Show(), Alias(),
        };
        command.Options.Add(GatewayConnection.Gateway);
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List registered models with their latest version and aliases.");
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (list, code) = await GetAsync(http, "api/models/", error, ct);
            if (list is null) return code;
            using (list)
            {
                var items = list.RootElement.ValueKind == JsonValueKind.Array ? list.RootElement : list.RootElement.GetProperty("data");
                await output.WriteLineAsync($"{"NAME",-32} {"KIND",-8} {"LATEST",6} ALIASES");
                foreach (var model in items.EnumerateArray())
                {
                    var aliases = model.TryGetProperty("aliases", out var a) ? AliasText(a) : "";
                    await output.WriteLineAsync($"{Text(model, "name"),-32} {Text(model, "kind"),-8} {Text(model, "latest_version"),6} {aliases}");
                }
            }
            return 0;
        }));
        return command;
    }

    /// <summary>Aliases as "production=3 staging=4", whether the API sends an object or a list.</summary>
    private static string AliasText(JsonElement aliases) => aliases.ValueKind switch
    {
        JsonValueKind.Object => string.Join(' ', aliases.EnumerateObject().Select(p => $"{p.Name}={p.Value}")),
        JsonValueKind.Array => string.Join(' ', aliases.EnumerateArray().Select(x => $"{Text(x, "alias")}={Text(x, "version")}")),
        _ => "",
    };

    private static Command Show()
    {
        var name = new Argument<string>("name") { Description = "Registered model name." };
        var command = new Command("show", "Show a model's versions with lineage (job, datasets, base model), aliases and alias history.") { name };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (model, code) = await GetAsync(http, $"api/models/{Uri.EscapeDataString(parse.GetValue(name)!)}", error, ct);
            if (model is null) return code;
            using (model) await output.WriteLineAsync(JsonSerializer.Serialize(model.RootElement, Indented));
            return 0;
        }));
        return command;
    }

    private static Command Alias()
    {
        var target = new Argument<string>("model") { Description = "NAME@VERSION to point the alias at." };
        var alias = new Argument<string>("alias") { Description = "Alias name: production, staging or any." };
        var reason = new Option<string?>("--reason") { Description = "Why (kept in the alias history)." };
        var command = new Command("alias", "Point an alias of a model at one of its versions.") { target, alias, reason };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var text = parse.GetValue(target)!;
            var at = text.IndexOf('@');
            if (at <= 0 || !int.TryParse(text.AsSpan(at + 1), out var version) || version < 1)
                throw new ArgumentValueException($"'{text}' is not NAME@VERSION (e.g. support-bot@3).");
            var body = new JsonObject { ["version"] = version, ["reason"] = parse.GetValue(reason) };
            var (move, code) = await SendAsync(http, HttpMethod.Put,
                $"api/models/{Uri.EscapeDataString(text[..at])}/aliases/{Uri.EscapeDataString(parse.GetValue(alias)!)}", body, error, ct);
            if (move is null) return code;
            move.Dispose();
            await output.WriteLineAsync($"{text[..at]}:{parse.GetValue(alias)} -> version {version}");
            return 0;
        }));
        return command;
    }
}
