using System.Threading.Channels;
using Assistant.Inference.Serving;
using Assistant.Modeling;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Inference.Apis;

/// <summary>
/// OpenAI's <c>/v1/models</c>, <c>/v1/chat/completions</c> and <c>/v1/completions</c>, in OpenAI's shapes so OpenAI clients
/// work unchanged. Every answer from a model carries <c>X-Model-Version: name@N</c>.
/// </summary>
public static class OpenAiApi
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1").WithTags("OpenAI");
        v1.MapGet("/models", ListModels)
            .WithName("ListModels")
            .WithSummary("The model versions this replica serves, with their alias and lineage.");
        v1.MapPost("/chat/completions", ChatCompletions)
            .WithName("CreateChatCompletion")
            .WithSummary("The assistant's reply to a conversation, laid out by the model's chat template; streamed as server-sent events with stream=true.");
        v1.MapPost("/completions", Completions)
            .WithName("CreateCompletion")
            .WithSummary("A continuation of a raw prompt; streamed as server-sent events with stream=true.");
        return app;
    }

    /// <summary>What the alias serves, by name; then the versions loaded on demand now, by <c>name@N</c> (they come and go).</summary>
    internal static Ok<ModelList> ListModels(ModelHost host, HttpContext http)
    {
        static ModelCard Card(ServedModel m, string id)
        {
            var (info, lineage) = (m.Info, m.Info.Lineage);
            return new ModelCard(id, "model", info.CreatedAt.ToUnixTimeSeconds(), "assistant", lineage?.BaseModelName, info.Version, info.Alias, info.Root,
                new ModelLineageCard(lineage?.Source ?? "folder", lineage?.BaseModel, lineage?.JobId, lineage?.Datasets?.DeepClone()));
        }
        var onDemand = http.RequestServices.GetService<OnDemandModels>()?.Loaded ?? [];
        return TypedResults.Ok(new ModelList("list", [.. host.Served.Select(m => Card(m, m.Info.Name)), .. onDemand.Select(m => Card(m, m.Info.Root))]));
    }

    static async Task<Results<Ok<ChatCompletion>, EventStream, OpenAiError, EmptyHttpResult>> ChatCompletions(HttpContext http, ModelHost host)
    {
        CompletionRequest request;
        try
        {
            using var body = await OpenAiRequests.ReadBodyAsync(http.Request);
            request = OpenAiRequests.Chat(body.RootElement);
        }
        catch (OpenAiRequestException e)
        {
            return Invalid(http, e);
        }

        var (refusal, admitted) = await Admission.TryAdmitAsync(http, host, "chat", request.Model, generator => generator.PrepareChat(request.Messages!, Options(request)), request.MaxTokens);
        if (refusal is not null) return Refused(refusal, request.Model, "messages");
        var (id, created, model, fingerprint) = ($"chatcmpl-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), admitted!.Model.Info.Name, admitted.Model.Info.Root);

        if (request.Stream)
        {
            return new EventStream(async (events, ct) =>
            {
                ChatCompletionChunk Chunk(ChatDelta delta, string? finish) => new(id, "chat.completion.chunk", created, model, fingerprint, [new ChatChunkChoice(0, delta, null, finish)]);
                await events.DataAsync(Chunk(new ChatDelta("assistant", ""), null), ct);
                var last = await Relay(admitted, events, text => Chunk(new ChatDelta(Content: text), null), ct);
                if (last is not { } end) return;
                await events.DataAsync(Chunk(new ChatDelta(), Admission.FinishReasonName(end.Finish)), ct);
                if (request.IncludeUsage) await events.DataAsync(new ChatCompletionChunk(id, "chat.completion.chunk", created, model, fingerprint, [], UsageOf(end)), ct);
                await events.DoneAsync(ct);
            });
        }

        var (result, error) = await Collect(http, admitted);
        if (error is not null) return error;
        if (result is not { } done) return TypedResults.Empty;
        return TypedResults.Ok(new ChatCompletion(id, "chat.completion", created, model, fingerprint,
            [new ChatChoice(0, new ChatChoiceMessage("assistant", done.Text, null), null, Admission.FinishReasonName(done.FinishReason))],
            new Usage(done.Usage.PromptTokens, done.Usage.CompletionTokens, done.Usage.TotalTokens)));
    }

    static async Task<Results<Ok<TextCompletionResponse>, EventStream, OpenAiError, EmptyHttpResult>> Completions(HttpContext http, ModelHost host)
    {
        CompletionRequest request;
        try
        {
            using var body = await OpenAiRequests.ReadBodyAsync(http.Request);
            request = OpenAiRequests.Completion(body.RootElement);
        }
        catch (OpenAiRequestException e)
        {
            return Invalid(http, e);
        }

        var (refusal, admitted) = await Admission.TryAdmitAsync(http, host, "text_completion", request.Model, generator => generator.PrepareCompletion(request.Prompt!, Options(request)), request.MaxTokens);
        if (refusal is not null) return Refused(refusal, request.Model, "prompt");
        var (id, created, model, fingerprint) = ($"cmpl-{Guid.NewGuid():N}", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), admitted!.Model.Info.Name, admitted.Model.Info.Root);

        if (request.Stream)
        {
            return new EventStream(async (events, ct) =>
            {
                TextCompletionResponse Chunk(string text, string? finish, IReadOnlyList<TextChoice>? choices = null, Usage? usage = null) =>
                    new(id, "text_completion", created, model, fingerprint, choices ?? [new TextChoice(text, 0, null, finish)], usage);
                var last = await Relay(admitted, events, text => Chunk(text, null), ct);
                if (last is not { } end) return;
                await events.DataAsync(Chunk("", Admission.FinishReasonName(end.Finish)), ct);
                if (request.IncludeUsage) await events.DataAsync(Chunk("", null, [], UsageOf(end)), ct);
                await events.DoneAsync(ct);
            });
        }

        var (result, error) = await Collect(http, admitted);
        if (error is not null) return error;
        if (result is not { } done) return TypedResults.Empty;
        return TypedResults.Ok(new TextCompletionResponse(id, "text_completion", created, model, fingerprint,
            [new TextChoice(done.Text, 0, null, Admission.FinishReasonName(done.FinishReason))],
            new Usage(done.Usage.PromptTokens, done.Usage.CompletionTokens, done.Usage.TotalTokens)));
    }

    static TextGenerationOptions Options(CompletionRequest request) => new()
    {
        Sampling = new SamplingOptions
        {
            MaxNewTokens = request.MaxTokens ?? int.MaxValue, // capped to the context's room on admission
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
        },
        StopStrings = request.Stop,
    };

    static Usage UsageOf(TextPiece last) => new(last.Usage.PromptTokens, last.Usage.CompletionTokens, last.Usage.TotalTokens);

    /// <summary>
    /// Sends each piece of text as a chunk; returns the last piece (finish reason and usage), or null when the stream ended
    /// early: the engine failed (an error event was sent) or the client left.
    /// </summary>
    static async Task<TextPiece?> Relay(Admitted admitted, EventStream.Writer events, Func<string, object> chunk, CancellationToken ct)
    {
        TextPiece? last = null;
        try
        {
            await foreach (var piece in admitted.Stream.Pieces.ReadAllAsync(ct))
            {
                if (piece.Text.Length > 0) await events.DataAsync(chunk(piece.Text), ct);
                last = piece;
            }
        }
        catch (ChannelClosedException e)
        {
            // Headers are gone already: the failure travels as an error event, as OpenAI streams do.
            await events.DataAsync(Failure(admitted, e).Body, ct);
            await events.DoneAsync(ct);
            return null;
        }
        if (last is { } end) admitted.Finished(end);
        return last;
    }

    /// <summary>The whole reply; an error answer when the engine failed; neither when the client left.</summary>
    static async Task<(TextCompletion?, OpenAiError?)> Collect(HttpContext http, Admitted admitted)
    {
        try
        {
            var done = await admitted.Stream.CollectAsync(http.RequestAborted);
            admitted.Finished(new TextPiece("", done.FinishReason, done.Usage));
            return (done, null);
        }
        catch (ChannelClosedException e)
        {
            return (null, Failure(admitted, e));
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            return (null, null);
        }
    }

    static OpenAiError Failure(Admitted admitted, ChannelClosedException e)
    {
        admitted.Activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.InnerException?.Message);
        return e.InnerException is ObjectDisposedException
            ? OpenAiError.Unavailable($"{admitted.Model.Info.Root} was unloaded before the reply finished; send the request again.")
            : OpenAiError.ServerError($"Generation on {admitted.Model.Info.Root} failed: {e.InnerException?.Message ?? e.Message}");
    }

    static OpenAiError Invalid(HttpContext http, OpenAiRequestException e)
    {
        http.RequestServices.GetRequiredService<InferenceTelemetry>().Outcome("invalid", null);
        return OpenAiError.Invalid(e.Message, e.Param, e.Code);
    }

    static OpenAiError Refused(Refusal refusal, string model, string promptParam) => refusal.Kind switch
    {
        RefusalKind.NothingDeployed => OpenAiError.NothingDeployed(),
        RefusalKind.UnknownModel => OpenAiError.ModelNotFound(model),
        RefusalKind.PromptTooLong => OpenAiError.Invalid(refusal.Message, promptParam, "context_length_exceeded"),
        RefusalKind.InvalidInput => OpenAiError.Invalid(refusal.Message, promptParam),
        RefusalKind.QueueFull => OpenAiError.QueueFull(refusal.Message, refusal.RetryAfterSeconds),
        _ => OpenAiError.Unavailable(refusal.Message),
    };
}
