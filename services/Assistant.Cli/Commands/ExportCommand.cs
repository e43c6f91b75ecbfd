using System.CommandLine;
using Assistant.Modeling.Export;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant export</c>: a local model folder rewritten as a Hugging Face folder or a GGUF file for llama.cpp.</summary>
internal static class ExportCommand
{
    public static Command Create()
    {
        var model = LocalModel.ModelOption();
        var format = new Option<string>("--format") { Description = "hf: a Hugging Face folder; gguf: one file for llama.cpp (llama models).", Required = true }.OneOf("hf", "gguf");
        var out_ = LocalModel.OutOption("Folder (hf) or file (gguf; a folder gets <name>-<dtype>.gguf inside) to write.");
        var dtype = new Option<string>("--dtype") { Description = "Element type of the written weights.", DefaultValueFactory = _ => "f32" }.OneOf("f32", "f16", "bf16");
        var force = new Option<bool>("--force") { Description = "Write into a non-empty --out folder, or over an existing --out file." };
        var command = new Command("export", "Export a local model folder as a Hugging Face folder or a GGUF file (offline).")
        {
            model, format, out_, dtype, force,
        };
        command.SetAction(parse => LocalModel.Run(parse, output =>
            Run(output, parse.GetValue(model)!, ModelExport.ParseFormat(parse.GetValue(format)!), parse.GetValue(out_)!, ModelExport.ParseDType(parse.GetValue(dtype)!), parse.GetValue(force))));
        return command;
    }

    static int Run(TextWriter output, string folder, ExportFormat format, string target, ExportDType dtype, bool force)
    {
        LocalModel.ExistingFolder(folder);
        if (SamePath(folder, target)) throw new CommandException($"--out '{target}' is the model folder itself; export to another path.");
        if (format == ExportFormat.Hf) LocalModel.CheckOutFolder(target, force);
        else if (File.Exists(target) && !force) throw new IOException($"--out '{target}' exists; pass --force to overwrite it.");

        var result = ModelExport.Export(folder, format, target, dtype); // hf copies the tokenizer and other files along
        var what = format == ExportFormat.Hf ? "a Hugging Face folder" : "GGUF";
        output.WriteLine($"Exported {Path.GetFullPath(folder)} as {what} ({dtype.ToString().ToLowerInvariant()}, {result.Bytes / 1e6:0.0} MB) to {result.Path}");
        return ExitCodes.Success;
    }

    static bool SamePath(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(a)), Path.TrimEndingDirectorySeparator(Path.GetFullPath(b)), StringComparison.Ordinal);
}
