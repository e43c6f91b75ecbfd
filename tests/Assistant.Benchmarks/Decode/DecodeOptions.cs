using System.Globalization;

namespace Assistant.Benchmarks.Decode;

/// <summary>Command-line options of the decode benchmark.</summary>
internal sealed record DecodeOptions
{
    public int Tokens { get; init; } = 128;
    public int PromptLength { get; init; } = 16;
    public int Batch { get; init; } = 8;
    public int Repeats { get; init; } = 5;
    /// <summary>One thread by default: 2-thread OpenMP stalls when other processes share the 2 cores (PLATFORM.md).</summary>
    public int Threads { get; init; } = 1;

    /// <summary>The options, or null when an argument is unknown or not a positive number.</summary>
    public static DecodeOptions? Parse(string[] args)
    {
        var options = new DecodeOptions();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value <= 0) return null;
            options = args[i] switch
            {
                "--tokens" => options with { Tokens = value },
                "--prompt" => options with { PromptLength = value },
                "--batch" => options with { Batch = value },
                "--repeats" => options with { Repeats = value },
                "--threads" => options with { Threads = value },
                _ => null,
            };
            if (options is null) return null;
        }
        return options.Tokens >= 2 ? options : null;
    }
}
