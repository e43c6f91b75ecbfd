using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;

namespace Assistant.Web.Gateway;

/// <summary>A line of a rejected dataset file, as the API names it (line 0: the whole file).</summary>
public sealed record DatasetLineError(long Line, string? Code, string Message, string? Param);

/// <summary>What the upload handler answers the browser: the new version, or the API's refusal with its errors by line and by field.</summary>
public sealed record DatasetUploadResult(
    int Status, string? Ref = null, string? Url = null, bool Deduplicated = false, string? Title = null, string? Detail = null, string? Param = null,
    IReadOnlyList<DatasetLineError>? Lines = null, long? TotalErrors = null, IReadOnlyDictionary<string, string[]>? Fields = null);

/// <summary>
/// Streams a browser's multipart upload on to the gateway's <c>POST api/datasets</c> as it arrives: the body is
/// never held whole in memory and keeps its content type (boundary included), so the API reads the same parts the
/// browser sent. The stream client has no timeout and no retries: a large file may take long, and a body read once
/// cannot be sent twice.
/// </summary>
public static class DatasetUploadRelay
{
    public static async Task<DatasetUploadResult> ForwardAsync(IHttpClientFactory clients, HttpContext context)
    {
        var ct = context.RequestAborted;
        // The web app's default body limit (about 30 MB) is lifted for this request only; the API applies its own.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var contentType) || contentType.MediaType != "multipart/form-data")
        {
            return new DatasetUploadResult(StatusCodes.Status400BadRequest, Title: "Not an upload", Detail: "Send the file as multipart/form-data.", Param: "file");
        }
        var content = new StreamContent(context.Request.Body, 64 * 1024);
        content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType);
        if (context.Request.ContentLength is { } length)
        {
            content.Headers.ContentLength = length;
        }
        // No trailing slash: the gateway streams exactly this path through without its body cap.
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/datasets") { Content = content };
        request.Headers.Accept.ParseAdd("application/json");
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(GatewayClients.Streams).SendAsync(request, ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            return new DatasetUploadResult(StatusCodes.Status400BadRequest, Title: "Upload interrupted", Detail: "The upload was interrupted before it finished; nothing was stored.", Param: "file");
        }
        catch (HttpRequestException ex) when (ex.InnerException is IOException or BadHttpRequestException)
        {
            // Reading the browser's body failed (it went away, or sent a broken body): nothing reached the API whole.
            return new DatasetUploadResult(StatusCodes.Status400BadRequest, Title: "Upload interrupted", Detail: $"The upload did not arrive whole ({ex.InnerException.Message}); nothing was stored.", Param: "file");
        }
        catch (HttpRequestException ex)
        {
            var unreachable = GatewayProblem.Unreachable(ex);
            return new DatasetUploadResult(unreachable.Status, Title: unreachable.Title, Detail: unreachable.Detail);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(ct);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                var version = JsonSerializer.Deserialize<DatasetVersion>(text, GatewayJson.Options)!;
                return new DatasetUploadResult(status, version.Ref, $"/datasets/{Uri.EscapeDataString(version.Dataset)}/{version.Version}", version.Deduplicated);
            }
            return Refusal(status, response.ReasonPhrase, text);
        }
    }

    /// <summary>The API's problem: an invalid file lists its errors by line (<c>errors: [{line, message, param}]</c>), a bad field by name (<c>errors: {name: [...]}</c>).</summary>
    private static DatasetUploadResult Refusal(int status, string? reason, string text)
    {
        var problem = GatewayProblem.Parse(status, text)
            ?? new GatewayProblem(status, reason ?? "Error", $"The gateway answered {status} {reason}.");
        List<DatasetLineError>? lines = null;
        Dictionary<string, string[]>? fields = null;
        long? total = null;
        try
        {
            using var doc = JsonDocument.Parse(text);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("errors", out var errors))
            {
                if (errors.ValueKind == JsonValueKind.Array)
                {
                    lines = errors.EnumerateArray().Select(e => new DatasetLineError(
                        e.TryGetProperty("line", out var line) && line.ValueKind == JsonValueKind.Number ? line.GetInt64() : 0,
                        Text(e, "code"), Text(e, "message") ?? "", Text(e, "param"))).ToList();
                    total = root.TryGetProperty("total_errors", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt64() : lines.Count;
                }
                else if (errors.ValueKind == JsonValueKind.Object)
                {
                    fields = errors.EnumerateObject().ToDictionary(p => p.Name,
                        p => p.Value.ValueKind == JsonValueKind.Array ? p.Value.EnumerateArray().Select(m => m.GetString() ?? "").ToArray() : [p.Value.ToString()]);
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page): the problem's fallback sentence says enough.
        }
        return new DatasetUploadResult(status, Title: problem.Title, Detail: problem.Detail, Param: problem.Param, Lines: lines, TotalErrors: total, Fields: fields);
    }

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
