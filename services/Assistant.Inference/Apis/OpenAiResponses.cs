using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.Features;

namespace Assistant.Inference.Apis;

// OpenAI's response shapes, field for field (snake_case through OpenAiJson.Options); extra fields are ours.

internal sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

/// <summary>A served model as <c>GET /v1/models</c> lists it, with its version, alias and lineage.</summary>
internal sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, string? Parent, int Version, string? Alias, string Root, ModelLineageCard Lineage);

internal sealed record ModelLineageCard(string Source, string? BaseModel, string? JobId, JsonNode? Datasets);

internal sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

internal sealed record ChatCompletion(string Id, string Object, long Created, string Model, string SystemFingerprint, IReadOnlyList<ChatChoice> Choices, Usage Usage);

internal sealed record ChatChoice(int Index, ChatChoiceMessage Message, object? Logprobs, string FinishReason);

internal sealed record ChatChoiceMessage(string Role, string Content, string? Refusal);

internal sealed record ChatCompletionChunk(
    string Id, string Object, long Created, string Model, string SystemFingerprint, IReadOnlyList<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, object? Logprobs, string? FinishReason);

internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content = null);

internal sealed record TextCompletionResponse(
    string Id, string Object, long Created, string Model, string SystemFingerprint, IReadOnlyList<TextChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage);

internal sealed record TextChoice(string Text, int Index, object? Logprobs, string? FinishReason);

/// <summary>
/// A <c>text/event-stream</c> answer: one <c>data: {json}</c> event per chunk, flushed at once, and <c>data: [DONE]</c> at the
/// end, as OpenAI streams. The body runs until the reply ends or the client goes away.
/// </summary>
internal sealed class EventStream(Func<EventStream.Writer, CancellationToken, Task> body) : IResult, IStatusCodeHttpResult
{
    public int? StatusCode => StatusCodes.Status200OK;

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        try
        {
            await body(new Writer(response), httpContext.RequestAborted);
        }
        catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its slot was freed when the engine saw the same cancellation.
        }
    }

    internal sealed class Writer(HttpResponse response)
    {
        static readonly byte[] Done = "data: [DONE]\n\n"u8.ToArray();

        public async Task DataAsync(object chunk, CancellationToken cancellationToken)
        {
            var json = JsonSerializer.SerializeToUtf8Bytes(chunk, chunk.GetType(), OpenAiJson.Options);
            var line = new byte[6 + json.Length + 2];
            Encoding.ASCII.GetBytes("data: ", line);
            json.CopyTo(line, 6);
            line[^2] = (byte)'\n';
            line[^1] = (byte)'\n';
            await response.Body.WriteAsync(line, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }

        public async Task DoneAsync(CancellationToken cancellationToken)
        {
            await response.Body.WriteAsync(Done, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
    }
}
