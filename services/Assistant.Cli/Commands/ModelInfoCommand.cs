using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Commands;

/// <summary><c>assistant model info</c>: what a model folder holds. It loads the weights, so it also checks they match config.json.</summary>
internal static class ModelInfoCommand
{
    /// <summary>The facts printed; also the <c>--json</c> shape.</summary>
    internal sealed record ModelFacts(
        string Folder, string ModelType, string Architecture, long Parameters, int VocabSize, int ContextLength,
        int Layers, int Heads, int KvHeads, int HeadDim, int HiddenSize, IReadOnlyList<string> DtypeOnDisk,
        string? Tokenizer, int? TokenizerVocabSize, string ChatTemplate, string ChatTemplateSource);

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static Command Create()
    {
        var model = LocalModel.ModelOption();
        var json = new Option<bool>("--json") { Description = "Print the facts as JSON." };
        var command = new Command("info", "Show a model folder's architecture, size, vocabulary, context, dtype, tokenizer and chat template.")
        {
            model, json,
        };
        command.SetAction(parse => LocalModel.Run(parse, output => Run(output, parse.GetValue(model)!, parse.GetValue(json))));
        return command;
    }

    static int Run(TextWriter output, string folder, bool asJson)
    {
        var facts = Read(LocalModel.ExistingFolder(folder));
        if (asJson)
        {
            output.WriteLine(JsonSerializer.Serialize(facts, Json));
            return ExitCodes.Success;
        }
        output.WriteLine($"Model folder    {facts.Folder}");
        output.WriteLine($"Architecture    {facts.ModelType} ({facts.Architecture})");
        output.WriteLine($"Parameters      {facts.Parameters.ToString("N0", CultureInfo.InvariantCulture)}");
        output.WriteLine($"Vocab size      {facts.VocabSize}");
        output.WriteLine($"Context length  {facts.ContextLength}");
        output.WriteLine($"Layers          {facts.Layers}");
        output.WriteLine($"Heads           {facts.Heads} (kv heads {facts.KvHeads}, head dim {facts.HeadDim}, hidden {facts.HiddenSize})");
        output.WriteLine($"Dtype on disk   {string.Join(", ", facts.DtypeOnDisk)}");
        output.WriteLine($"Tokenizer       {(facts.Tokenizer is null ? "none" : $"{facts.Tokenizer} ({facts.TokenizerVocabSize} ids)")}");
        output.WriteLine($"Chat template   {facts.ChatTemplate} ({facts.ChatTemplateSource})");
        return ExitCodes.Success;
    }

    internal static ModelFacts Read(string folder)
    {
        using var model = HfCheckpoint.Load(folder);
        var tokenizer = LocalModel.TryLoadTokenizer(folder);
        var declared = TokenizerConfig.Read(folder).ChatTemplate;
        var c = model.Config;
        return new ModelFacts(
            Path.GetFullPath(folder), c.ModelType, c.Architecture, model.ParameterCount, c.VocabSize, c.MaxPositions,
            c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.HeadDim, c.HiddenSize, DtypesOnDisk(folder),
            tokenizer?.Kind, tokenizer?.VocabSize, ChatTemplate.Classify(declared).ToString(),
            declared is null ? "default: tokenizer_config.json has none" : "tokenizer_config.json");
    }

    /// <summary>Element types in the safetensors headers (only headers are read).</summary>
    static IReadOnlyList<string> DtypesOnDisk(string folder)
    {
        var dtypes = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder, "*.safetensors"))
        {
            using var reader = new Safetensors.Reader(file);
            dtypes.UnionWith(reader.Entries.Values.Select(e => e.DType));
        }
        return [.. dtypes];
    }
}
