using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.Cli.Commands;

/// <summary>Request/response plumbing the platform verbs share.</summary>
internal static class ApiCalls
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Sends a request and reads its JSON body; a problem response is printed (ApiErrors) and its exit
    /// code returned instead, so each verb is one call and one check.
    /// </summary>
    public static async Task<(JsonDocument? Body, int ExitCode)> SendAsync(HttpClient http, HttpMethod method, string path, object? body, TextWriter error, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await http.SendAsync(request, ct);
        if (!response.IsSuccessStatusCode) return (null, await ApiErrors.ReportAsync(response, error, ct));
        if (response.Content.Headers.ContentLength == 0) return (JsonDocument.Parse("{}"), 0);
        return (await response.Content.ReadFromJsonAsync<JsonDocument>(ct), 0);
    }

    public static Task<(JsonDocument? Body, int ExitCode)> GetAsync(HttpClient http, string path, TextWriter error, CancellationToken ct) =>
        SendAsync(http, HttpMethod.Get, path, null, error, ct);

    /// <summary>A property as display text ("" when absent or null).</summary>
    public static string Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind != JsonValueKind.Null ? value.ToString() : "";

    public static double? Number(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;

    /// <summary>Loss-like values: 4 decimals, or "-" when absent.</summary>
    public static string Metric(JsonElement element, string property) =>
        Number(element, property) is double v ? v.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "-";
}
