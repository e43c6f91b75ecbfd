namespace Assistant.Cli.Tests;

/// <summary>Mistakes a user can make: each gives a non-zero exit code and one readable line, never a stack trace.</summary>
public sealed class ErrorTests(StarterModels models) : IDisposable
{
    readonly TempFolder temp = new();

    /// <summary>Folders with one thing wrong each, named by the placeholders the cases use.</summary>
    string Resolve(string arg)
    {
        string Folder(string name, params (string File, string Text)[] files)
        {
            var path = temp.Sub(name);
            Directory.CreateDirectory(path);
            foreach (var (file, text) in files) File.WriteAllText(Path.Combine(path, file), text);
            return path;
        }
        string CopyOf(string name, params string[] files)
        {
            var path = Folder(name);
            foreach (var file in files) File.Copy(Path.Combine(models.Folder("llama"), file), Path.Combine(path, file));
            return path;
        }
        return arg switch
        {
            "{model}" => models.Folder("llama"),
            "{missing}" => temp.Sub("no-such-folder"),
            "{empty}" => Folder("empty"),
            "{mamba}" => Folder("mamba", ("config.json", """{"model_type": "mamba"}""")),
            "{bad-json}" => Folder("bad-json", ("config.json", "{ \"model_type\": ")),
            "{no-weights}" => CopyOf("no-weights", "config.json"),
            "{no-tokenizer}" => CopyOf("no-tokenizer", "config.json", "model.safetensors"),
            "{non-empty}" => Folder("non-empty", ("notes.txt", "mine")),
            "{new}" => temp.Sub("new"),
            "{long}" => new string('a', 600),
            _ => arg,
        };
    }

    [Theory]
    // the folder or its files are at fault: exit 1
    [InlineData(1, "does not exist", "model", "info", "--model", "{missing}")]
    [InlineData(1, "does not exist", "model", "logits", "--model", "{missing}", "--ids", "1")]
    [InlineData(1, "does not exist", "generate", "--model", "{missing}", "--prompt", "hi")]
    [InlineData(1, "does not exist", "export", "--model", "{missing}", "--format", "hf", "--out", "{new}")]
    [InlineData(1, "No config.json", "model", "info", "--model", "{empty}")]
    [InlineData(1, "model_type 'mamba' is not supported", "generate", "--model", "{mamba}", "--prompt", "hi")]
    [InlineData(1, "is not valid JSON", "model", "logits", "--model", "{bad-json}", "--ids", "1")]
    [InlineData(1, "No model.safetensors", "model", "info", "--model", "{no-weights}")]
    [InlineData(1, "has no tokenizer", "generate", "--model", "{no-tokenizer}", "--prompt", "hi")]
    [InlineData(1, "not empty; choose an empty folder or pass --force", "model", "init", "--arch", "llama", "--out", "{non-empty}")]
    // the command line is at fault: exit 2
    [InlineData(2, "--arch 'mamba' is not supported; use one of: llama, gpt2", "model", "init", "--arch", "mamba", "--out", "{new}")]
    [InlineData(2, "--preset 'huge' is not a preset of gpt2", "model", "init", "--arch", "gpt2", "--preset", "huge", "--out", "{new}")]
    [InlineData(2, "Option '--out' is required", "model", "init", "--arch", "gpt2")]
    [InlineData(2, "--ids: 'x' is not a token id", "model", "logits", "--model", "{model}", "--ids", "1,x,3")]
    [InlineData(2, "--ids: '1.5' is not a token id", "model", "logits", "--model", "{model}", "--ids", "1.5")]
    [InlineData(2, "--ids: 999 is outside the model's vocabulary (ids 0..263)", "model", "logits", "--model", "{model}", "--ids", "1,999")]
    [InlineData(2, "--temperature must be 0 (greedy) or more; got '-1'", "generate", "--model", "{model}", "--prompt", "hi", "--temperature", "-1")]
    [InlineData(2, "--top-p must be in (0, 1]; got '1.5'", "generate", "--model", "{model}", "--prompt", "hi", "--top-p", "1.5")]
    [InlineData(2, "--max-tokens must be at least 1", "generate", "--model", "{model}", "--prompt", "hi", "--max-tokens", "0")]
    [InlineData(2, "--top-k 'many' is not a whole number", "generate", "--model", "{model}", "--prompt", "hi", "--top-k", "many")]
    [InlineData(2, "--seed '1e3' is not a whole number", "generate", "--model", "{model}", "--prompt", "hi", "--seed", "1e3")]
    [InlineData(2, "--stop must not be empty", "generate", "--model", "{model}", "--prompt", "hi", "--stop", "")]
    [InlineData(2, "leaves no room in the model's context of 512", "generate", "--model", "{model}", "--prompt", "{long}")]
    [InlineData(2, "--format 'zip' is not supported; use one of: hf, gguf", "export", "--model", "{model}", "--format", "zip", "--out", "{new}")]
    [InlineData(2, "Unrecognized command or argument 'modle'", "modle", "info")]
    public void User_errors_print_one_line_and_exit_non_zero(int exitCode, string message, params string[] args)
    {
        var result = Cli.Run(args.Select(Resolve).ToArray());
        Expect.UserError(result, exitCode, message);
        Assert.False(Directory.Exists(temp.Sub("new")), "a failed command must not leave an output behind");
    }

    public void Dispose() => temp.Dispose();
}
