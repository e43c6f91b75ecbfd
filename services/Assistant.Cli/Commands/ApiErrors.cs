using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.Cli.Commands;

/// <summary>Prints the platform's RFC 7807 problem details as lines a person can act on.</summary>
internal static class ApiErrors
{
    /// <summary>Writes the error of a non-success response to <paramref name="error"/>; returns the exit code to use.</summary>
    public static async Task<int> ReportAsync(HttpResponseMessage response, TextWriter error, CancellationToken ct)
    {
        if (response.StatusCode is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden)
        {
            await error.WriteLineAsync(KeyRefused(await DetailOfAsync(response, ct) ?? $"HTTP {(int)response.StatusCode}"));
            return 1;
        }
        if (response.Content.Headers.ContentType?.MediaType is "application/problem+json" or "application/json")
        {
            using var problem = await response.Content.ReadFromJsonAsync<JsonDocument>(ct);
            var root = problem!.RootElement;
            var title = root.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
            if (title is null && root.TryGetProperty("error", out var openAi) && openAi.ValueKind == JsonValueKind.Object)
            {
                // The OpenAI-compatible routes answer {"error": {"message", "param", ...}}.
                var param = openAi.TryGetProperty("param", out var p) && p.ValueKind == JsonValueKind.String ? $" ({p.GetString()})" : "";
                await error.WriteLineAsync($"error: {(openAi.TryGetProperty("message", out var m) ? m.GetString() : response.ReasonPhrase)}{param}");
                return (int)response.StatusCode >= 500 ? 3 : 1;
            }
            await error.WriteLineAsync($"error: {title ?? response.ReasonPhrase}{(detail is null || detail == title ? "" : $": {detail}")}");
            if (root.TryGetProperty("errors", out var errors))
            {
                if (errors.ValueKind == JsonValueKind.Array)
                {
                    foreach (var item in errors.EnumerateArray())
                    {
                        var line = item.GetProperty("line").GetInt64();
                        var param = item.TryGetProperty("param", out var p) && p.ValueKind == JsonValueKind.String ? $" ({p.GetString()})" : "";
                        await error.WriteLineAsync($"  {(line > 0 ? $"line {line}" : "file")}: {item.GetProperty("code").GetString()}: {item.GetProperty("message").GetString()}{param}");
                    }
                    if (root.TryGetProperty("total_errors", out var total) && total.GetInt64() > errors.GetArrayLength())
                    {
                        await error.WriteLineAsync($"  ... and {total.GetInt64() - errors.GetArrayLength()} more");
                    }
                }
                else if (errors.ValueKind == JsonValueKind.Object && detail is null)
                {
                    foreach (var field in errors.EnumerateObject())
                    {
                        foreach (var message in field.Value.EnumerateArray())
                        {
                            await error.WriteLineAsync($"  {field.Name}: {message.GetString()}");
                        }
                    }
                }
            }
        }
        else
        {
            await error.WriteLineAsync($"error: the platform answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}.");
        }
        return (int)response.StatusCode >= 500 ? 3 : 1;
    }

    /// <summary>One line for a 401 or 403 from the gateway: what it said and how to give the CLI a key.</summary>
    public static string KeyRefused(string detail) =>
        $"The gateway refused the API key: {detail.TrimEnd('.')}; set {GatewayConnection.ApiKeyVariable} or --api-key.";

    private static async Task<string?> DetailOfAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Content.Headers.ContentType?.MediaType is not ("application/problem+json" or "application/json")) return null;
        try
        {
            using var problem = await response.Content.ReadFromJsonAsync<JsonDocument>(ct);
            return problem!.RootElement.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
