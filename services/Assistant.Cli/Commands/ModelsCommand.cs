using System.Net.Http.Json;
using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant models ...</c>: the model registry (list, show with lineage, move aliases, import a base model).</summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "The model registry: registered models, versions, lineage and aliases.")
        {
            List(), Show(), Alias(), Import(),
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

    private static Command Import()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "A Hugging Face model folder: config.json, model.safetensors (or shards with their index), tokenizer files." };
        var name = new Option<string>("--name") { Description = "Registered model name (a new version when it exists).", Required = true };
        var description = new Option<string?>("--description") { Description = "What the model is." };
        var command = new Command("import", "Register a local Hugging Face folder as a base model (admin key); jobs can then fine-tune it.") { folder, name, description };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var source = parse.GetValue(folder)!;
            if (!source.Exists)
            {
                await error.WriteLineAsync($"error: {source.FullName} does not exist.");
                return 1;
            }
            // The API takes the folder's files flat, as one multipart body, and checks them before anything is stored.
            var files = source.GetFiles().Where(f => !f.Name.StartsWith('.')).OrderBy(f => f.Name, StringComparer.Ordinal).ToList();
            if (files.Count == 0)
            {
                await error.WriteLineAsync($"error: {source.FullName} has no files.");
                return 1;
            }
            using var form = new MultipartFormDataContent { { new StringContent(parse.GetValue(name)!), "name" } };
            if (parse.GetValue(description) is { } d) form.Add(new StringContent(d), "description");
            var streams = files.Select(f => f.OpenRead()).ToList();
            try
            {
                foreach (var (file, stream) in files.Zip(streams)) form.Add(new StreamContent(stream, 1 << 16), "files", file.Name);
                http.Timeout = Timeout.InfiniteTimeSpan; // weights take as long as they take
                await error.WriteLineAsync($"uploading {files.Count} file{(files.Count == 1 ? "" : "s")} ({files.Sum(f => f.Length) / (1024.0 * 1024):0.0} MiB)...");
                using var response = await http.PostAsync("api/models/import", form, ct);
                if (!response.IsSuccessStatusCode) return await ApiErrors.ReportAsync(response, error, ct);
                using var version = (await response.Content.ReadFromJsonAsync<JsonDocument>(ct))!;
                var root = version.RootElement;
                await output.WriteLineAsync($"{Text(root, "ref")} registered: {Text(root, "architecture")}, {Text(root, "parameters")} parameters");
                return 0;
            }
            finally
            {
                foreach (var stream in streams) await stream.DisposeAsync();
            }
        }));
        return command;
    }
}
