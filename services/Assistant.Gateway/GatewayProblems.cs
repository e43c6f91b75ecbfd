using System.Globalization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Gateway;

/// <summary>
/// The gateway's refusals as RFC 7807 problem details in the training API's style (type, title, status, detail,
/// <c>param</c>). On the OpenAI routes (<c>/v1</c>, <c>/generate</c>) they also carry OpenAI's
/// <c>error: {message, type, param, code}</c> member, so OpenAI SDKs show the reason instead of a bare status.
/// </summary>
public static class GatewayProblems
{
    private const string ProblemBase = "https://assistant.dev/problems/";

    public static Task UnauthorizedAsync(HttpContext context, string detail, bool keyMissing = false)
    {
        // RFC 6750: no error code when no credentials were sent, invalid_token when they were wrong.
        context.Response.Headers.WWWAuthenticate = keyMissing ? "Bearer realm=\"assistant\"" : "Bearer realm=\"assistant\", error=\"invalid_token\"";
        return WriteAsync(context, StatusCodes.Status401Unauthorized, "Missing or invalid API key", "invalid-api-key", detail,
            openAiType: "invalid_request_error", openAiCode: "invalid_api_key");
    }

    public static Task ForbiddenAsync(HttpContext context, string detail)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer realm=\"assistant\", error=\"insufficient_scope\"";
        return WriteAsync(context, StatusCodes.Status403Forbidden, "The API key lacks the scope this request needs", "insufficient-scope", detail,
            openAiType: "invalid_request_error", openAiCode: "insufficient_scope");
    }

    public static Task TooManyRequestsAsync(HttpContext context, TimeSpan retryAfter)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many requests", "rate-limited",
            $"This API key's rate limit is reached; retry in {seconds} s.", openAiType: "requests", openAiCode: "rate_limit_exceeded");
    }

    public static Task TooLargeAsync(HttpContext context, long limitBytes) =>
        WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "The body is too large", "too-large",
            $"The request body is larger than the gateway's limit of {limitBytes / (1024 * 1024)} MiB.", openAiType: "invalid_request_error", openAiCode: "request_too_large");

    public static Task UnavailableAsync(HttpContext context, string detail)
    {
        context.Response.Headers.RetryAfter = "2";
        return WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Temporarily unavailable", "unavailable", detail,
            openAiType: "server_error", openAiCode: null);
    }

    /// <summary>A 400 for the gateway's own endpoints, naming the field at fault like the training API's problems.</summary>
    public static ValidationProblem Invalid(string param, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [param] = [message] },
            detail: message, title: "The request is not valid", type: ProblemBase + "invalid-request",
            extensions: new Dictionary<string, object?> { ["param"] = param });

    public static ProblemHttpResult NotFound(string param, string message) =>
        Refused(StatusCodes.Status404NotFound, "Not found", "not-found", param, message);

    public static ProblemHttpResult Conflict(string param, string message) =>
        Refused(StatusCodes.Status409Conflict, "Conflict", "conflict", param, message);

    private static ProblemHttpResult Refused(int status, string title, string type, string param, string message) =>
        TypedResults.Problem(detail: message, statusCode: status, title: title, type: ProblemBase + type,
            extensions: new Dictionary<string, object?> { ["param"] = param });

    private static Task WriteAsync(HttpContext context, int status, string title, string type, string detail, string openAiType, string? openAiCode)
    {
        var extensions = new Dictionary<string, object?>();
        if (IsOpenAiRoute(context.Request.Path))
        {
            extensions["error"] = new OpenAiError(detail, openAiType, null, openAiCode);
        }
        return TypedResults.Problem(detail: detail, statusCode: status, title: title, type: ProblemBase + type, extensions: extensions)
            .ExecuteAsync(context);
    }

    private static bool IsOpenAiRoute(PathString path) =>
        path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/generate", StringComparison.OrdinalIgnoreCase);

    private sealed record OpenAiError(string Message, string Type, string? Param, string? Code);
}
