using System.CommandLine;
using System.CommandLine.Invocation;
using Assistant.Cli.Commands;

namespace Assistant.Cli;

/// <summary>The <c>assistant</c> command line: platform verbs through the gateway, offline verbs on local files.</summary>
public static class CliApp
{
    /// <summary>Prints the whole exception when something unexpected fails.</summary>
    static readonly Option<bool> Verbose = new("--verbose") { Description = "Print full details of unexpected errors.", Recursive = true };

    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("Assistant: train and serve domain-specific AI assistants.")
        {
            StatusCommand.Create(),
            ModelCommand.Create(),
            GenerateCommand.Create(),
            ExportCommand.Create(),
            DatasetsCommand.Create(),
            TrainCommand.Create(),
            JobsCommand.Create(),
            ModelsCommand.Create(),
            WorkersCommand.Create(),
            DeployCommand.Create(),
            DeployCommand.CreateList(),
            ChatCommand.Create(),
            KeysCommand.Create(),
        };
        root.Options.Add(Verbose);
        // Global: every platform verb sends it, those added later included.
        root.Options.Add(GatewayConnection.ApiKey);
        return root;
    }

    /// <summary>
    /// Runs the command line. A wrong command line prints one line per problem and exits 2; an
    /// unexpected error prints one line (the full exception with --verbose) and exits 1.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct = default, TextReader? input = null)
    {
        InputReader.Value = input;
        var parse = CreateRootCommand().Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            // One line: "required command not provided" only matters when nothing more specific went wrong.
            var messages = parse.Errors.Select(e => e.Message.ReplaceLineEndings(" ").Trim().TrimEnd('.')).Distinct().ToList();
            if (messages.Count > 1) messages.RemoveAll(m => m.StartsWith("Required command was not provided", StringComparison.Ordinal));
            await error.WriteLineAsync($"{string.Join("; ", messages)}. See '{CommandPath(parse.CommandResult.Command)} --help'.");
            return ExitCodes.Usage;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, ct);
        }
        catch (OperationCanceledException e) when (ct.IsCancellationRequested || e.InnerException is not TimeoutException)
        {
            // Ctrl+C or SIGTERM (System.CommandLine cancels the action's own token), not a timeout: say so, not "unexpected".
            await error.WriteLineAsync("Cancelled.");
            return 130;
        }
        catch (Exception e)
        {
            await error.WriteLineAsync(parse.GetValue(Verbose)
                ? e.ToString()
                : $"Unexpected error: {e.Message.ReplaceLineEndings(" ")} (rerun with --verbose for details)");
            return ExitCodes.Failure;
        }
    }

    static readonly AsyncLocal<TextReader?> InputReader = new();

    /// <summary>What interactive verbs (chat) read: the reader given to <see cref="RunAsync"/>, else the console.</summary>
    public static TextReader Input => InputReader.Value ?? Console.In;

    static string CommandPath(Command command)
    {
        var names = new List<string>();
        for (var c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
            names.Add(c is RootCommand ? "assistant" : c.Name);
        names.Reverse();
        return string.Join(" ", names);
    }
}
