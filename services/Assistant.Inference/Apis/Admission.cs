using System.Diagnostics;
using Assistant.Inference.Serving;
using Assistant.Modeling;

namespace Assistant.Inference.Apis;

/// <summary>Why a request was not admitted to a model; each API words it in its own error shape.</summary>
internal enum RefusalKind { NothingDeployed, UnknownModel, PromptTooLong, InvalidInput, QueueFull, Unavailable }

internal sealed record Refusal(RefusalKind Kind, string Message, int RetryAfterSeconds = 0);

/// <summary>A request running on a model: its lease (held to the end of the response), its stream of text, its trace.</summary>
internal sealed record Admitted(ServedModel Model, GenerationStream Stream, Activity? Activity);

/// <summary>
/// The steps every generation endpoint shares: lease the model, lay out the prompt, cap the reply to the room the context
/// leaves, and queue it on the model's engine, or say why not.
/// </summary>
internal static class Admission
{
    /// <summary>Tokens the reply may take: what was asked, capped to the context's room (everything left when not asked).</summary>
    public static int ReplyBudget(int? requested, int promptTokens, int contextLength) =>
        Math.Min(requested ?? int.MaxValue, contextLength - promptTokens);

    /// <summary>
    /// Leases the model (loading a version or alias this replica does not serve on demand, which the request waits for), then
    /// admits the request to its engine; the refusal, or null with <paramref name="model"/>'s admitted request.
    /// </summary>
    public static async Task<(Refusal? Refusal, Admitted? Admitted)> TryAdmitAsync(HttpContext http, ModelHost host, string operation, string? model,
        Func<TextGenerator, PreparedGeneration> prepare, int? maxTokens)
    {
        var telemetry = http.RequestServices.GetRequiredService<InferenceTelemetry>();
        var lease = host.TryLease(model, out var refusal);
        string? why = null;
        // A version or another alias than the followed one: the registry may have it (static mode has no registry).
        if (lease is null && http.RequestServices.GetService<OnDemandModels>() is { } onDemand && OnDemandModels.Names(model)
            && !(model!.EndsWith($":{host.Alias}", StringComparison.Ordinal)))
        {
            try
            {
                var loaded = await onDemand.LeaseAsync(model, http.RequestAborted);
                (lease, refusal, why) = (loaded.Lease, loaded.Refusal, loaded.Message);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                return (new Refusal(RefusalKind.Unavailable, "The client left while the model was loading."), null); // nobody reads it
            }
        }
        if (lease is null)
        {
            telemetry.Outcome(refusal is LeaseRefusal.UnknownModel ? "invalid" : "unavailable", null);
            return refusal switch
            {
                LeaseRefusal.NothingDeployed => (new Refusal(RefusalKind.NothingDeployed, "No model is deployed yet."), null),
                LeaseRefusal.UnknownModel => (new Refusal(RefusalKind.UnknownModel, $"The model '{model}' is not served here."), null),
                _ => (new Refusal(RefusalKind.Unavailable, why ?? $"'{model}' is unavailable just now."), null),
            };
        }
        // Released when the response is complete: the version stays loaded for this request even if it is swapped out.
        http.Response.RegisterForDispose(lease);
        var served = lease.Model;
        http.Response.Headers["X-Model-Version"] = served.Info.Root;

        var activity = InferenceTelemetry.Activity.StartActivity($"{operation} {served.Info.Name}");
        if (activity is not null)
        {
            http.Response.RegisterForDispose(activity); // ends with the response, after the last streamed token
            activity.SetTag("gen_ai.operation.name", operation);
            activity.SetTag("gen_ai.request.model", served.Info.Name);
            activity.SetTag("assistant.model.version", served.Info.Root);
        }

        PreparedGeneration plan;
        try
        {
            plan = prepare(new TextGenerator(served.Model));
        }
        catch (ArgumentException e)
        {
            telemetry.Outcome("invalid", served.Tags);
            return (new Refusal(RefusalKind.InvalidInput, e.Message), null);
        }
        var engine = served.Engine;
        activity?.SetTag("gen_ai.usage.input_tokens", plan.PromptIds.Count);
        if (plan.PromptIds.Count >= engine.ContextLength)
        {
            telemetry.Outcome("invalid", served.Tags);
            return (new Refusal(RefusalKind.PromptTooLong,
                $"The prompt is {plan.PromptIds.Count} tokens long; {served.Info.Root}'s context holds {engine.ContextLength}, so no room is left for a reply. Shorten it."), null);
        }
        plan = plan with { Sampling = plan.Sampling with { MaxNewTokens = ReplyBudget(maxTokens, plan.PromptIds.Count, engine.ContextLength) } };

        GenerationStream? stream;
        try
        {
            stream = engine.TrySubmit(plan, http.RequestAborted);
        }
        catch (ArgumentException e)
        {
            telemetry.Outcome("invalid", served.Tags);
            return (new Refusal(RefusalKind.InvalidInput, e.Message), null);
        }
        catch (ObjectDisposedException)
        {
            return (new Refusal(RefusalKind.Unavailable, $"{served.Info.Root} is unloading; send the request again."), null);
        }
        if (stream is null)
        {
            telemetry.Outcome("rejected", served.Tags);
            activity?.SetStatus(ActivityStatusCode.Error, "queue full");
            return (new Refusal(RefusalKind.QueueFull, $"{served.Info.Root} is busy: every decode slot is taken and its wait queue is full", engine.RetryAfterSeconds), null);
        }
        return (null, new Admitted(served, stream, activity));
    }

    /// <summary>Records how the request ended on its trace.</summary>
    public static void Finished(this Admitted admitted, TextPiece last)
    {
        admitted.Activity?.SetTag("gen_ai.usage.output_tokens", last.Usage.CompletionTokens);
        admitted.Activity?.SetTag("gen_ai.response.finish_reasons", new[] { FinishReasonName(last.Finish) });
    }

    public static string FinishReasonName(FinishReason? reason) => reason == FinishReason.Stop ? "stop" : "length";
}
