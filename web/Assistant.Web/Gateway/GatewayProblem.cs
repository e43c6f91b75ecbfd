using System.Net;
using System.Text.Json;

namespace Assistant.Web.Gateway;

/// <summary>
/// A request the gateway's API refused or could not serve, read from its RFC 7807 problem details (or OpenAI's
/// <c>error</c> object): what pages show the user instead of a stack trace.
/// </summary>
public sealed class GatewayProblem(int status, string title, string detail, string? param = null) : Exception(detail)
{
    public int Status { get; } = status;
    public string Title { get; } = title;
    /// <summary>The sentence to show: the problem's <c>detail</c>.</summary>
    public string Detail { get; } = detail;
    /// <summary>The request field at fault, as the API names it (<c>hyperparameters.learning_rate</c>).</summary>
    public string? Param { get; } = param;

    public bool IsNotFound => Status == (int)HttpStatusCode.NotFound;

    /// <summary>This problem as the web app's own answer to a script (RFC 7807, the gateway's status).</summary>
    public Microsoft.AspNetCore.Mvc.JsonResult ToResult() =>
        new(new { title = Title, detail = Detail, status = Status, param = Param }) { StatusCode = Status, ContentType = "application/problem+json" };

    public static GatewayProblem Unreachable(Exception ex) =>
        new(StatusCodes.Status503ServiceUnavailable, "The gateway cannot be reached", $"The gateway cannot be reached right now ({ex.Message}); try again in a moment.");

    /// <summary>Reads a failed response's problem; bodies that are not problems still give a readable sentence.</summary>
    public static async Task<GatewayProblem> ReadAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        var fallback = $"The gateway answered {status} {response.ReasonPhrase}.";
        string text;
        try
        {
            text = await response.Content.ReadAsStringAsync(ct);
        }
        catch (HttpRequestException)
        {
            return new GatewayProblem(status, response.ReasonPhrase ?? "Error", fallback);
        }
        return Parse(status, text) ?? new GatewayProblem(status, response.ReasonPhrase ?? "Error", fallback);
    }

    public static GatewayProblem? Parse(int status, string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                // OpenAI's shape, as the inference service answers.
                return new GatewayProblem(status, String(error, "type") ?? "Error", String(error, "message") ?? text, String(error, "param"));
            }
            var title = String(root, "title") ?? "Error";
            var detail = String(root, "detail") ?? title;
            return new GatewayProblem(status, title, detail, String(root, "param"));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

/// <summary>The gateway answered 401 to the signed-in user's own key: it was revoked or expired, so the session ends.</summary>
public sealed class GatewayKeyRefusedException(string detail) : Exception(detail);
