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

    public static Refusal? TryAdmit(HttpContext http, ModelHost host, string operation, string? model, Func<TextGenerator, PreparedGeneration> prepare, int? maxTokens,
        out Admitted? admitted)
    {
        admitted = null;
        var telemetry = http.RequestServices.GetRequiredService<InferenceTelemetry>();
        var lease = host.TryLease(model, out var refusal);
        if (lease is null)
        {
            telemetry.Outcome(refusal == LeaseRefusal.NothingDeployed ? "unavailable" : "invalid", null);
            return refusal == LeaseRefusal.NothingDeployed
                ? new Refusal(RefusalKind.NothingDeployed, "No model is deployed yet.")
                : new Refusal(RefusalKind.UnknownModel, $"The model '{model}' is not served here.");
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
            return new Refusal(RefusalKind.InvalidInput, e.Message);
        }
        var engine = served.Engine;
        activity?.SetTag("gen_ai.usage.input_tokens", plan.PromptIds.Count);
        if (plan.PromptIds.Count >= engine.ContextLength)
        {
            telemetry.Outcome("invalid", served.Tags);
            return new Refusal(RefusalKind.PromptTooLong,
                $"The prompt is {plan.PromptIds.Count} tokens long; {served.Info.Root}'s context holds {engine.ContextLength}, so no room is left for a reply. Shorten it.");
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
            return new Refusal(RefusalKind.InvalidInput, e.Message);
        }
        catch (ObjectDisposedException)
        {
            return new Refusal(RefusalKind.Unavailable, $"{served.Info.Root} is unloading; send the request again.");
        }
        if (stream is null)
        {
            telemetry.Outcome("rejected", served.Tags);
            activity?.SetStatus(ActivityStatusCode.Error, "queue full");
            return new Refusal(RefusalKind.QueueFull, $"{served.Info.Root} is busy: every decode slot is taken and its wait queue is full", engine.RetryAfterSeconds);
        }
        admitted = new Admitted(served, stream, activity);
        return null;
    }

    /// <summary>Records how the request ended on its trace.</summary>
    public static void Finished(this Admitted admitted, TextPiece last)
    {
        admitted.Activity?.SetTag("gen_ai.usage.output_tokens", last.Usage.CompletionTokens);
        admitted.Activity?.SetTag("gen_ai.response.finish_reasons", new[] { FinishReasonName(last.Finish) });
    }

    public static string FinishReasonName(FinishReason? reason) => reason == FinishReason.Stop ? "stop" : "length";
}
