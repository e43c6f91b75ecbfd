using System.CommandLine;
using System.Globalization;
using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant model init</c>: a starter model with random weights, as a normal HF folder with its tokenizer.</summary>
internal static class ModelInitCommand
{
    public static Command Create()
    {
        var arch = new Option<string>("--arch") { Description = "Architecture.", Required = true };
        arch.OneOf([.. ModelPresets.Architectures]);
        var preset = new Option<string>("--preset") { Description = "Size preset (tiny: d=256, 4 layers; small: d=384, 6 layers).", DefaultValueFactory = _ => "tiny" };
        var seed = LocalModel.Number<long>("--seed", "Seed of the weight init: the same seed writes the same bytes.", "N", 0L);
        var out_ = LocalModel.OutOption("Folder to write.");
        var force = LocalModel.ForceOption();
        var command = new Command("init", "Write a starter model (random weights, byte tokenizer, ChatML template) as a Hugging Face folder.")
        {
            arch, preset, out_, seed, force,
        };
        command.SetAction(parse => LocalModel.Run(parse, output =>
            Run(output, parse.GetValue(arch)!, parse.GetValue(preset)!, parse.GetValue(out_)!, parse.GetValue(seed), parse.GetValue(force))));
        return command;
    }

    static int Run(TextWriter output, string arch, string preset, string folder, long seed, bool force)
    {
        var presets = ModelPresets.PresetNames(arch);
        if (!presets.Contains(preset))
            throw new CommandException($"--preset '{preset}' is not a preset of {arch}; available: {string.Join(", ", presets)}.");
        LocalModel.CheckOutFolder(folder, force);

        var path = ModelPresets.Create(arch, preset, seed, folder);
        using var model = HfCheckpoint.Load(path);
        var tokenizer = TokenizerLoader.FromModelFolder(path);
        var c = model.Config;
        output.WriteLine($"Wrote {arch} '{preset}' (seed {seed}) to {path}");
        output.WriteLine($"  architecture  {c.ModelType} ({c.Architecture})");
        output.WriteLine($"  parameters    {model.ParameterCount.ToString("N0", CultureInfo.InvariantCulture)}");
        output.WriteLine($"  vocab         {c.VocabSize} ({tokenizer.Kind} tokenizer, {tokenizer.VocabSize} ids)");
        output.WriteLine($"  context       {c.MaxPositions}");
        output.WriteLine($"  files         {string.Join(", ", Directory.EnumerateFiles(path).Select(Path.GetFileName).Order(StringComparer.Ordinal))}");
        return ExitCodes.Success;
    }
}
