using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant generate</c>: text from a local model folder, streamed to stdout as it is produced.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = LocalModel.ModelOption();
        var prompt = new Option<string>("--prompt") { Description = "Text to continue (with --chat: the user's message).", HelpName = "TEXT", Required = true };
        var chat = new Option<bool>("--chat") { Description = "Send --prompt as a user message through the model's chat template; print the assistant's reply." };
        var maxTokens = LocalModel.Number<int>("--max-tokens", "Most tokens to generate.", "N", 128, n => n >= 1, "must be at least 1");
        var temperature = LocalModel.Number<double>("--temperature", "0 = greedy; higher = more random.", "T", 1.0, t => t >= 0, "must be 0 (greedy) or more");
        var topP = LocalModel.Number<double>("--top-p", "Sample from the smallest set of tokens holding this much probability (1 = off).", "P", 1.0, p => p is > 0 and <= 1, "must be in (0, 1]");
        var topK = LocalModel.Number<int>("--top-k", "Sample from the K most likely tokens (0 = off).", "K", 0, k => k >= 0, "must be 0 (off) or more");
        var seed = LocalModel.Number<long>("--seed", "Seed of the sampler: the same seed and prompt give the same text (default: unseeded).", "N", null);
        var stop = new Option<string[]>("--stop") { Description = "Stop before this text (repeatable).", HelpName = "S" };
        stop.Validators.Add(r =>
        {
            if (r.Tokens.Any(t => t.Value.Length == 0)) r.AddError("--stop must not be empty.");
        });

        var command = new Command("generate", "Generate text with a local model folder, streaming it to stdout (offline).")
        {
            model, prompt, chat, maxTokens, temperature, topP, topK, seed, stop,
        };
        command.SetAction((parse, ct) => LocalModel.RunAsync(parse, output =>
        {
            var options = new TextGenerationOptions
            {
                Sampling = new SamplingOptions
                {
                    MaxNewTokens = parse.GetValue(maxTokens),
                    Temperature = parse.GetValue(temperature),
                    TopP = parse.GetValue(topP),
                    TopK = parse.GetValue(topK),
                    Seed = parse.GetResult(seed) is null ? null : parse.GetValue(seed),
                },
                StopStrings = parse.GetValue(stop) ?? [],
            };
            return Task.FromResult(Run(output, parse.InvocationConfiguration.Error, parse.GetValue(model)!, parse.GetValue(prompt)!, parse.GetValue(chat), options, ct));
        }));
        return command;
    }

    static int Run(TextWriter output, TextWriter error, string folder, string prompt, bool chat, TextGenerationOptions options, CancellationToken ct)
    {
        using var loaded = LoadedModel.Load(LocalModel.ExistingFolder(folder));
        var generator = new TextGenerator(loaded);
        IEnumerable<TextPiece> pieces;
        try
        {
            pieces = chat ? generator.StreamChat([ChatMessage.FromUser(prompt)], options, ct) : generator.StreamComplete(prompt, options, ct);
        }
        catch (ArgumentException e) // the prompt does not fit the context; options were checked when parsed
        {
            throw new CommandException(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", ""));
        }

        var clock = Stopwatch.StartNew();
        var last = default(TextPiece);
        foreach (var piece in pieces)
        {
            output.Write(piece.Text);
            output.Flush();
            last = piece;
        }
        output.WriteLine();
        var seconds = clock.Elapsed.TotalSeconds;
        var speed = seconds > 0 ? (last.Usage.CompletionTokens / seconds).ToString("0.0", CultureInfo.InvariantCulture) : "-";
        error.WriteLine($"[finish: {last.Finish?.ToString().ToLowerInvariant()} | prompt {last.Usage.PromptTokens} tokens | completion {last.Usage.CompletionTokens} tokens | {speed} tok/s]");
        return ExitCodes.Success;
    }
}
