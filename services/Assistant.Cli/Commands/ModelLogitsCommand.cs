using System.CommandLine;
using System.Globalization;
using Assistant.Modeling;
using static TorchSharp.torch;

namespace Assistant.Cli.Commands;

/// <summary>
/// <c>assistant model logits</c>: the model's raw output for given ids, one vocab-sized row per position,
/// each float in its shortest round-trip form, so other tools can compare against it exactly.
/// </summary>
internal static class ModelLogitsCommand
{
    public static Command Create()
    {
        var model = LocalModel.ModelOption();
        var ids = new Option<int[]>("--ids")
        {
            Description = "Comma-separated token ids, e.g. 1,2,3.",
            HelpName = "IDS",
            Required = true,
            CustomParser = ParseIds,
        };
        var command = new Command("logits", "Print the logits of every position for the given token ids as JSON {\"logits\": [[...], ...]}.")
        {
            model, ids,
        };
        command.SetAction(parse => LocalModel.Run(parse, output => Run(output, parse.GetValue(model)!, parse.GetValue(ids)!)));
        return command;
    }

    static int[]? ParseIds(System.CommandLine.Parsing.ArgumentResult result)
    {
        var text = string.Join(",", result.Tokens.Select(t => t.Value));
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
            {
                result.AddError(parts[i].Length == 0
                    ? $"--ids '{text}' has an empty entry; give comma-separated token ids such as 1,2,3."
                    : $"--ids: '{parts[i]}' is not a token id (a non-negative integer).");
                return null;
            }
        }
        return ids;
    }

    static int Run(TextWriter output, string folder, int[] ids)
    {
        using var model = HfCheckpoint.Load(LocalModel.ExistingFolder(folder));
        var config = model.Config;
        if (ids.FirstOrDefault(id => id >= config.VocabSize, -1) is var bad and >= 0)
            throw new CommandException($"--ids: {bad} is outside the model's vocabulary (ids 0..{config.VocabSize - 1}).");
        if (ids.Length > config.MaxPositions)
            throw new CommandException($"--ids: {ids.Length} ids are more than the model's context of {config.MaxPositions}.");

        float[] logits;
        using (no_grad())
        using (NewDisposeScope())
            logits = model.forward(tensor(ids.Select(id => (long)id).ToArray(), [1, ids.Length])).data<float>().ToArray();

        var vocab = config.VocabSize;
        output.Write("{\"logits\": [");
        for (var position = 0; position < ids.Length; position++)
        {
            output.Write(position == 0 ? "\n  [" : ",\n  [");
            for (var v = 0; v < vocab; v++)
            {
                if (v > 0) output.Write(',');
                output.Write(JsonFloat(logits[position * vocab + v]));
            }
            output.Write(']');
        }
        output.WriteLine("\n]}");
        return ExitCodes.Success;
    }

    /// <summary>Shortest text that parses back to the same float; JSON has no NaN or infinity, so those are strings.</summary>
    static string JsonFloat(float value) =>
        float.IsFinite(value) ? value.ToString("R", CultureInfo.InvariantCulture) : $"\"{value.ToString(CultureInfo.InvariantCulture)}\"";
}
