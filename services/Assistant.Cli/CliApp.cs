using System.CommandLine;
using Assistant.Cli.Commands;

namespace Assistant.Cli;

/// <summary>The <c>assistant</c> command line: platform verbs through the gateway, offline verbs on local files.</summary>
public static class CliApp
{
    public static RootCommand CreateRootCommand()
    {
        var root = new RootCommand("Assistant: train and serve domain-specific AI assistants.")
        {
            StatusCommand.Create(),
        };
        return root;
    }

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken ct = default) =>
        CreateRootCommand().Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, ct);
}
