using System.CommandLine;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant model ...</c>: create and inspect model folders on this machine, no platform needed.</summary>
internal static class ModelCommand
{
    public static Command Create() => new("model", "Create and inspect local model folders (offline).")
    {
        ModelInitCommand.Create(),
        ModelInfoCommand.Create(),
        ModelLogitsCommand.Create(),
    };
}
