using System.CommandLine;
using System.Globalization;
using System.Numerics;
using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Commands;

/// <summary>Exit codes of the offline verbs: 1 = the folder or model is at fault, 2 = the command line is.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int Usage = 2;
}

/// <summary>
/// A problem the user can fix, found when the command runs: a bad option value (e.g. an id beyond the
/// model's vocabulary, exit code 2 by default) or a request this build cannot serve.
/// </summary>
internal sealed class CommandException(string message, int exitCode = ExitCodes.Usage) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>What the offline verbs share: the <c>--model</c> option and turning folder problems into one line.</summary>
internal static class LocalModel
{
    public static Option<string> ModelOption() => new("--model")
    {
        Description = "Model folder in Hugging Face layout (config.json, model.safetensors, tokenizer files).",
        HelpName = "DIR",
        Required = true,
    };

    public static Option<string> OutOption(string description) => new("--out")
    {
        Description = description,
        HelpName = "PATH",
        Required = true,
    };

    public static Option<bool> ForceOption() => new("--force") { Description = "Write into --out even when it is not empty." };

    /// <summary>Accepts only <paramref name="values"/>, with a one-line error naming the value and the choices.</summary>
    public static T OneOf<T>(this T option, params string[] values) where T : Option<string>
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string>() is { } value && !values.Contains(value, StringComparer.Ordinal))
                result.AddError($"{option.Name} '{value}' is not supported; use one of: {string.Join(", ", values)}.");
        });
        return option;
    }

    /// <summary>
    /// A numeric option whose bad values (not a number, out of range) get a one-line error naming the
    /// option, the value and the rule: <paramref name="rule"/> reads after the option name ("must be 1 or more").
    /// Without <paramref name="defaultValue"/> the option is simply absent when not given.
    /// </summary>
    public static Option<T> Number<T>(string name, string description, string helpName, T? defaultValue, Func<T, bool>? valid = null, string? rule = null)
        where T : struct, INumber<T>
    {
        var integral = T.CreateTruncating(0.5) == T.Zero; // int, long: a half truncates to zero
        var option = new Option<T>(name)
        {
            Description = description,
            HelpName = helpName,
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0) return defaultValue ?? default;
                var text = result.Tokens[^1].Value;
                if (!T.TryParse(text, integral ? NumberStyles.Integer : NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
                    || (!integral && !double.IsFinite(double.CreateChecked(value))))
                    result.AddError($"{name} '{text}' is not {(integral ? "a whole number" : "a number")}.");
                else if (valid is not null && !valid(value))
                    result.AddError($"{name} {rule}; got '{text}'.");
                return value;
            },
        };
        if (defaultValue is T value) option.DefaultValueFactory = _ => value;
        return option;
    }

    /// <summary>Runs a verb; errors a user can cause (a missing folder, a bad config or tokenizer, a bad value) print one line.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<TextWriter, Task<int>> body)
    {
        var error = parse.InvocationConfiguration.Error;
        try
        {
            return await body(parse.InvocationConfiguration.Output);
        }
        catch (CommandException e)
        {
            await error.WriteLineAsync(OneLine(e.Message));
            return e.ExitCode;
        }
        catch (Exception e) when (e is ModelFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            await error.WriteLineAsync(OneLine(e.Message));
            return ExitCodes.Failure;
        }
    }

    public static int Run(ParseResult parse, Func<TextWriter, int> body) =>
        RunAsync(parse, output => Task.FromResult(body(output))).GetAwaiter().GetResult();

    /// <summary>The folder must exist before anything is read from it, so the message names the real problem.</summary>
    public static string ExistingFolder(string folder) =>
        Directory.Exists(folder) ? folder
        : File.Exists(folder) ? throw new IOException($"--model '{folder}' is a file; it should be a model folder.")
        : throw new DirectoryNotFoundException($"Model folder '{folder}' does not exist.");

    /// <summary>Refuses a non-empty output folder (or a file in its place) unless forced.</summary>
    public static void CheckOutFolder(string folder, bool force)
    {
        if (File.Exists(folder)) throw new IOException($"--out '{folder}' is a file; it should be a folder.");
        if (!force && Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"--out '{folder}' is not empty; choose an empty folder or pass --force to write into it.");
    }

    /// <summary>The tokenizer of a folder, or null when it has none (a malformed one still fails).</summary>
    public static TextTokenizer? TryLoadTokenizer(string folder)
    {
        try { return TokenizerLoader.FromModelFolder(folder); }
        catch (FileNotFoundException) { return null; }
    }

    static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
