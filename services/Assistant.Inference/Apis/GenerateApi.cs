using System.Globalization;
using System.Text.Json;
using Assistant.Inference.Serving;
using Assistant.Modeling;
using Assistant.Tokenization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Inference.Apis;

public sealed record GenerateResponse(string Response);

/// <summary>
/// The classic endpoint: <c>{prompt, max_length[, model]}</c> -> <c>{response}</c>, the model's reply to the prompt sent as one
/// user message through its chat template. <c>max_length</c> counts the reply's tokens (capped to the context's room).
/// Errors are RFC 7807 problems naming the field in <c>param</c>, as every platform API does.
/// </summary>
public static class GenerateApi
{
    public const int DefaultMaxLength = 256;

    public static IEndpointRouteBuilder MapGenerateApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/generate", Generate)
            .WithName("Generate")
            .WithSummary("The classic generation endpoint: {prompt, max_length} -> {response}, the reply to the prompt as a user message.")
            .WithTags("Generate");
        return app;
    }

    static async Task<Results<Ok<GenerateResponse>, ProblemHttpResult, EmptyHttpResult>> Generate(HttpContext http, ModelHost host)
    {
        string prompt;
        int maxLength;
        string? model;
        try
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body, default, http.RequestAborted);
            var root = body.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Invalid("body", "The request body must be a JSON object: {\"prompt\": \"...\", \"max_length\": 256}.");
            if (!root.TryGetProperty("prompt", out var p) || p.ValueKind != JsonValueKind.String) return Invalid("prompt", "prompt is required and must be a string.");
            prompt = p.GetString()!;
            maxLength = DefaultMaxLength;
            if (root.TryGetProperty("max_length", out var m) && m.ValueKind != JsonValueKind.Null)
            {
                if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt32(out maxLength) || maxLength < 1)
                    return Invalid("max_length", $"max_length must be an integer of at least 1; got {m.GetRawText()}.");
            }
            model = null;
            if (root.TryGetProperty("model", out var name) && name.ValueKind != JsonValueKind.Null)
            {
                if (name.ValueKind != JsonValueKind.String) return Invalid("model", "model must be a string: name, name@version or name:alias.");
                model = name.GetString();
            }
        }
        catch (JsonException e)
        {
            return Invalid("body", $"The request body is not valid JSON: {e.Message}");
        }

        // Greedy: the classic endpoint takes no sampling settings, and the same prompt should give the same reply.
        var options = new TextGenerationOptions { Sampling = SamplingOptions.Greedy(maxLength) };
        var (refusal, admitted) = await Admission.TryAdmitAsync(http, host, "generate", model, generator => generator.PrepareChat([ChatMessage.FromUser(prompt)], options), maxLength);
        if (refusal is not null)
        {
            if (refusal.Kind == RefusalKind.QueueFull) http.Response.Headers.RetryAfter = refusal.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            return refusal.Kind switch
            {
                RefusalKind.NothingDeployed => Problem(503, "No model is deployed", "Deploy a model version (POST /api/deploy/{job_id}) before generating.", "no-model-deployed"),
                RefusalKind.UnknownModel => Problem(404, "Unknown model", $"The model '{model}' is not served here; GET /v1/models lists what is.", "model-not-found"),
                RefusalKind.PromptTooLong or RefusalKind.InvalidInput => Invalid("prompt", refusal.Message),
                RefusalKind.QueueFull => Problem(429, "Too many requests", refusal.Message, "server-overloaded"),
                _ => Problem(503, "Model unavailable", refusal.Message, "model-unavailable"),
            };
        }

        try
        {
            var done = await admitted!.Stream.CollectAsync(http.RequestAborted);
            admitted.Finished(new TextPiece("", done.FinishReason, done.Usage));
            return TypedResults.Ok(new GenerateResponse(done.Text));
        }
        catch (System.Threading.Channels.ChannelClosedException e)
        {
            return Problem(500, "Generation failed", $"Generation on {admitted!.Model.Info.Root} failed: {e.InnerException?.Message ?? e.Message}", "generation-failed");
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return TypedResults.Empty; // the client left
        }
    }

    static ProblemHttpResult Invalid(string field, string detail) =>
        TypedResults.Problem(detail, statusCode: 400, title: $"Invalid {field}", type: "https://assistant.dev/problems/invalid-request",
            extensions: new Dictionary<string, object?> { ["param"] = field });

    static ProblemHttpResult Problem(int status, string title, string detail, string type) =>
        TypedResults.Problem(detail, statusCode: status, title: title, type: $"https://assistant.dev/problems/{type}");
}
