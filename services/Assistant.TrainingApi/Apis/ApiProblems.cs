using System.Text.Json;
using Assistant.Datasets;
using Assistant.Modeling.Training;
using Assistant.Platform.Datasets;
using Assistant.Platform.Models;

namespace Assistant.TrainingApi.Apis;

/// <summary>
/// A request the caller can fix, or a state that refuses it: the HTTP status, the field at fault
/// (<see cref="Param"/>, as the client named it) and what is wrong. <see cref="ApiProblems"/> turns it
/// into RFC 7807 problem details, so handlers state only their success results.
/// </summary>
public sealed class ApiProblem(int status, string? param, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;

    public static ApiProblem Invalid(string param, string message) => new(StatusCodes.Status400BadRequest, param, message);
    public static ApiProblem NotFound(string param, string message) => new(StatusCodes.Status404NotFound, param, message);
    public static ApiProblem Conflict(string? param, string message) => new(StatusCodes.Status409Conflict, param, message);
}

/// <summary>Maps the platform's domain errors to problem details naming the field; nothing a caller causes becomes a 500.</summary>
internal sealed class ApiProblems : IEndpointFilter
{
    private const string ProblemBase = "https://assistant.dev/problems/";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (ApiProblem ex)
        {
            return From(ex.Status, ex.Param, ex.Message);
        }
        catch (DatasetRequestException ex)
        {
            return From(StatusCodes.Status400BadRequest, ex.Param, ex.Message);
        }
        catch (DatasetInvalidException ex)
        {
            // The file's own problems, by line: what the uploader needs to fix, however many there are.
            var report = ex.Report;
            return TypedResults.Problem(
                title: "The dataset file is not valid",
                detail: $"{report.ProblemCount} problem(s) found; {report.Problems.Count} listed. Nothing was stored.",
                statusCode: StatusCodes.Status400BadRequest,
                type: ProblemBase + "invalid-dataset",
                extensions: new Dictionary<string, object?>
                {
                    ["errors"] = report.Problems.Select(p => new { line = p.Line, code = p.Code, message = p.Message, param = p.Param }),
                    ["total_errors"] = report.ProblemCount,
                    ["format"] = report.Format?.ToJsonName(),
                });
        }
        catch (DatasetNotFoundException ex)
        {
            return From(StatusCodes.Status404NotFound, null, ex.Message);
        }
        catch (DatasetConflictException ex)
        {
            return From(StatusCodes.Status409Conflict, null, ex.Message);
        }
        catch (ModelRegistryException ex)
        {
            return From(ex.NotFound ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest, ex.Field, ex.Message);
        }
        catch (TrainingConfigException ex)
        {
            return From(StatusCodes.Status400BadRequest, ex.Field ?? "hyperparameters", ex.Message);
        }
        catch (BadHttpRequestException ex)
        {
            return From(ex.StatusCode, "body", ex.Message);
        }
        catch (Exception ex) when (IsUnavailable(ex))
        {
            // Not the caller's fault and not a bug: a store is down or slow. Say so, so clients retry.
            context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger<ApiProblems>()
                .LogWarning(ex, "A dependency failed while serving {Path}", context.HttpContext.Request.Path);
            context.HttpContext.Response.Headers.RetryAfter = "5";
            return From(StatusCodes.Status503ServiceUnavailable, null, "A platform dependency (Postgres, Redis or S3) is unavailable; try again shortly.");
        }
    }

    private static bool IsUnavailable(Exception ex) => ex is StackExchange.Redis.RedisConnectionException or StackExchange.Redis.RedisTimeoutException
        or Npgsql.NpgsqlException { IsTransient: true } or Amazon.Runtime.AmazonServiceException { StatusCode: >= System.Net.HttpStatusCode.InternalServerError }
        || ex is Microsoft.EntityFrameworkCore.Storage.RetryLimitExceededException;

    public static IResult From(int status, string? param, string message)
    {
        var (title, type) = status switch
        {
            StatusCodes.Status400BadRequest => ("The request is not valid", "invalid-request"),
            StatusCodes.Status404NotFound => ("Not found", "not-found"),
            StatusCodes.Status409Conflict => ("Conflict", "conflict"),
            StatusCodes.Status413PayloadTooLarge => ("The body is too large", "too-large"),
            StatusCodes.Status503ServiceUnavailable => ("Temporarily unavailable", "unavailable"),
            _ => ("The request cannot be served", "request-refused"),
        };
        var extensions = new Dictionary<string, object?> { ["param"] = param };
        if (status == StatusCodes.Status400BadRequest && param is not null)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [param] = [message] },
                detail: message, title: title, type: ProblemBase + type, extensions: extensions);
        }
        return TypedResults.Problem(detail: message, statusCode: status, title: title, type: ProblemBase + type, extensions: extensions);
    }
}

/// <summary>Reads JSON request bodies so that a malformed one is a 400 naming the field, never a 500.</summary>
internal static class RequestBody
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The body as <typeparamref name="T"/>; an unknown field, a wrong type or an empty body is a problem naming it.</summary>
    public static async Task<T> ReadAsync<T>(HttpRequest request, CancellationToken ct) where T : class
    {
        // Bodies here are small (the gateway caps them), so buffering is cheap and tells an empty body apart.
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, ct);
        if (buffer.Length == 0)
        {
            throw ApiProblem.Invalid("body", "The request needs a JSON body.");
        }
        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options)
                ?? throw ApiProblem.Invalid("body", "The request body is null; a JSON object is expected.");
        }
        catch (JsonException ex)
        {
            throw Explain(ex);
        }
    }

    /// <summary>A JSON object body, for requests whose shape is checked field by field.</summary>
    public static async Task<System.Text.Json.Nodes.JsonObject> ReadObjectAsync(HttpRequest request, CancellationToken ct)
    {
        System.Text.Json.Nodes.JsonNode? node;
        try
        {
            node = await System.Text.Json.Nodes.JsonNode.ParseAsync(request.Body, cancellationToken: ct);
        }
        catch (JsonException ex)
        {
            throw ApiProblem.Invalid("body", $"The body is not valid JSON: {ex.Message}");
        }
        return node as System.Text.Json.Nodes.JsonObject ?? throw ApiProblem.Invalid("body", "The body must be a JSON object.");
    }

    /// <summary>Names the field a serializer error is about ("$.kinds[0]" → "kinds[0]") without the serializer's type names.</summary>
    private static ApiProblem Explain(JsonException ex)
    {
        const string unmapped = "The JSON property '";
        if (ex.Message.StartsWith(unmapped, StringComparison.Ordinal) && ex.Message.IndexOf('\'', unmapped.Length) is var end and > 0)
        {
            var field = ex.Message[unmapped.Length..end];
            return ApiProblem.Invalid(field, $"'{field}' is not a field of this request.");
        }
        return ex.Path is { Length: > 2 } path && path.StartsWith("$.", StringComparison.Ordinal)
            ? ApiProblem.Invalid(path[2..], $"{path[2..]} has the wrong type or format.")
            : ApiProblem.Invalid("body", "The body is not valid JSON for this request.");
    }
}
