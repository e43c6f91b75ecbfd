using System.Text.Json;
using Assistant.Modeling.Training;

namespace Assistant.TrainingApi.Jobs;

/// <summary>
/// The <c>validating_files</c> step: does each part of a job's data suit its method? Pretraining reads any
/// text; full and LoRA fine-tunes learn the assistant's turns, so they need conversations that have them.
/// The version's format and statistics (computed when it was uploaded) tell, without reading the file again.
/// </summary>
public static class TrainingFiles
{
    public const string InvalidTrainingFile = "invalid_training_file";

    /// <summary>The first problem as (param, message), or null when the data suits the method.</summary>
    public static (string Param, string Message)? Check(string method, IReadOnlyList<JobData> data)
    {
        foreach (var part in data)
        {
            if (part.Examples == 0)
            {
                return (part.Field, $"The {part.Role} data {part.Reference} has no examples.");
            }
            if (method == TrainingMethods.Pretrain)
            {
                continue;
            }
            if (part.Version.Format == "text")
            {
                return (part.Field, $"The {part.Role} data {part.Reference} is plain text; the {method} method learns assistant answers from " +
                    "conversations (chat, prompt_completion, context_response or alpaca). Use method pretrain for text.");
            }
            if (AssistantTurns(part.Version.Statistics) == 0)
            {
                return (part.Field, $"The {part.Role} data {part.Reference} has no assistant turns to learn from.");
            }
        }
        return null;
    }

    private static long AssistantTurns(string statistics)
    {
        using var json = JsonDocument.Parse(statistics);
        return json.RootElement.TryGetProperty("role_counts", out var roles) && roles.ValueKind == JsonValueKind.Object
            && roles.TryGetProperty("assistant", out var assistant) && assistant.TryGetInt64(out var count)
            ? count
            : 0;
    }
}
