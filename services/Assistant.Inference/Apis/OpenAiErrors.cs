using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Metadata;

namespace Assistant.Inference.Apis;

/// <summary>
/// An OpenAI error answer, <c>{"error": {"message", "type", "param", "code"}}</c> with its status, so OpenAI clients show the
/// message and the parameter at fault. 429 carries <c>Retry-After</c>.
/// </summary>
internal sealed class OpenAiError(int status, string message, string type, string? param, string? code)
    : IResult, IStatusCodeHttpResult, IEndpointMetadataProvider
{
    public const string InvalidRequest = "invalid_request_error";

    public int? StatusCode => status;
    public string Message => message;
    public string Type => type;
    public string? Param => param;
    public string? Code => code;
    public int? RetryAfterSeconds { get; init; }

    public static OpenAiError Invalid(string message, string? param, string? code = null) => new(400, message, InvalidRequest, param, code);

    public static OpenAiError ModelNotFound(string model) =>
        new(404, $"The model '{model}' does not exist or is not served here; GET /v1/models lists what is.", InvalidRequest, "model", "model_not_found");

    public static OpenAiError NothingDeployed() =>
        new(503, "No model is deployed yet: deploy a model version (POST /api/deploy/{job_id}) before generating.", "server_error", null, "model_not_deployed");

    public static OpenAiError QueueFull(string reason, int retryAfterSeconds) =>
        new(429, $"{reason}. Retry after {retryAfterSeconds} s.", "server_overloaded", null, "queue_full")
        {
            RetryAfterSeconds = retryAfterSeconds,
        };

    public static OpenAiError ServerError(string message) => new(500, message, "server_error", null, null);

    public static OpenAiError Unavailable(string message) => new(503, message, "server_error", null, "model_unavailable");

    /// <summary>The body as OpenAI writes it (also sent as an SSE event when a stream fails after it started).</summary>
    public object Body => new { error = new { message, type, param, code } };

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = status;
        if (RetryAfterSeconds is int seconds) response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(response.Body, Body, OpenAiJson.Options, httpContext.RequestAborted);
    }

    public static void PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder) =>
        builder.Metadata.Add(new ProducesResponseTypeMetadata(400, typeof(OpenAiErrorBody), ["application/json"]));
}

/// <summary>The error body's shape, for the OpenAPI document.</summary>
internal sealed record OpenAiErrorBody(OpenAiErrorDetail Error);

internal sealed record OpenAiErrorDetail(string Message, string Type, string? Param, string? Code);

/// <summary>A request field OpenAI would refuse; <see cref="Param"/> names it as OpenAI does (<c>messages[0].content</c>).</summary>
internal sealed class OpenAiRequestException(string? param, string message, string? code = null) : Exception(message)
{
    public string? Param => param;
    public string? Code => code;
}

/// <summary>snake_case on the wire, nulls written (OpenAI sends <c>"logprobs": null</c>).</summary>
internal static class OpenAiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
