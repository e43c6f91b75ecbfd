using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Assistant.Cli.Commands.ApiCalls;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant keys list|create|revoke</c>: the gateway's API keys (admin scope).</summary>
internal static class KeysCommand
{
    public static Command Create()
    {
        var command = new Command("keys", "Manage API keys: list, create (the key is shown once), revoke.")
        {
            List(), CreateKey(), Revoke(),
        };
        command.Options.Add(GatewayConnection.Gateway);
        command.Options.Add(GatewayConnection.ApiKey);
        return command;
    }

    private static Command List()
    {
        var command = new Command("list", "List API keys (never the keys themselves).");
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (list, code) = await GetAsync(http, "api/keys", error, ct);
            if (list is null) return code;
            using (list)
            {
                await output.WriteLineAsync($"{"ID",-36} {"NAME",-28} {"PREFIX",-12} {"SCOPES",-22} {"STATE",-8} LAST USED");
                foreach (var key in list.RootElement.GetProperty("data").EnumerateArray())
                {
                    var scopes = string.Join(',', key.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
                    var state = Text(key, "revoked_at") is { Length: > 0 } ? "revoked"
                        : key.TryGetProperty("expires_at", out var e) && e.ValueKind == JsonValueKind.String && e.GetDateTimeOffset() < DateTimeOffset.UtcNow ? "expired" : "active";
                    await output.WriteLineAsync($"{Text(key, "id"),-36} {Text(key, "name"),-28} {Text(key, "prefix"),-12} {scopes,-22} {state,-8} {Text(key, "last_used_at")}");
                }
            }
            return 0;
        }));
        return command;
    }

    private static Command CreateKey()
    {
        var name = new Argument<string>("name") { Description = "What the key is for (e.g. support-widget)." };
        var scopes = new Option<string[]>("--scope") { Description = "A scope: admin, train, read or infer (repeatable).", Required = true, AllowMultipleArgumentsPerToken = true };
        var expiresIn = new Option<int?>("--expires-in-days") { Description = "Days until the key stops working." };
        var rpm = new Option<int?>("--requests-per-minute") { Description = "Rate limit of this key (default: the gateway's)." };
        var command = new Command("create", "Create an API key; it is printed once, only the hash is stored.") { name, scopes, expiresIn, rpm };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var body = new JsonObject
            {
                ["name"] = parse.GetValue(name),
                ["scopes"] = new JsonArray((parse.GetValue(scopes) ?? []).Select(s => (JsonNode)s).ToArray()),
            };
            if (parse.GetValue(expiresIn) is int days)
            {
                if (days < 1) throw new ArgumentValueException("--expires-in-days must be 1 or more.");
                body["expires_at"] = DateTimeOffset.UtcNow.AddDays(days).ToString("O", CultureInfo.InvariantCulture);
            }
            if (parse.GetValue(rpm) is int limit) body["requests_per_minute"] = limit;
            var (created, code) = await SendAsync(http, HttpMethod.Post, "api/keys", body, error, ct);
            if (created is null) return code;
            using (created)
            {
                var key = created.RootElement;
                await output.WriteLineAsync($"Created key {Text(key, "id")} '{Text(key, "name")}' with scopes {string.Join(',', key.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()))}.");
                await output.WriteLineAsync("Store it now; it is not shown again:");
                await output.WriteLineAsync(Text(key, "key"));
            }
            return 0;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("id") { Description = "Id of the key to revoke." };
        var command = new Command("revoke", "Revoke an API key; it stops working at once.") { id };
        command.SetAction((parse, ct) => GatewayConnection.RunAsync(parse, async (http, output, error) =>
        {
            var (revoked, code) = await SendAsync(http, HttpMethod.Delete, $"api/keys/{Uri.EscapeDataString(parse.GetValue(id)!)}", null, error, ct);
            if (revoked is null) return code;
            using (revoked) await output.WriteLineAsync($"Revoked key {Text(revoked.RootElement, "id")} '{Text(revoked.RootElement, "name")}'.");
            return 0;
        }));
        return command;
    }
}
