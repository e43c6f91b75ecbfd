using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>A temporary folder deleted when the test ends.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("assistant-modeling-").FullName;
    public string Sub(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>The PyTorch reference fixtures written by Reference/make_fixtures.py.</summary>
internal static class Fixtures
{
    public static readonly string[] Names = ["llama_gqa_untied", "llama_tied_llama3", "llama_bf16", "gpt2", "gpt2_prefixed_f16"];

    public static string Folder(string name) => Path.Combine(AppContext.BaseDirectory, "Reference", "fixtures", name);

    /// <summary>Input ids [batch, tokens] and expected logits [batch, tokens, vocab].</summary>
    public static (Tensor Ids, Tensor Logits) Expected(string name)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder(name), "logits.json")))!;
        var ids = json["input_ids"]!.AsArray().Select(row => row!.AsArray().Select(v => v!.GetValue<long>()).ToArray()).ToArray();
        var logits = json["logits"]!.AsArray().SelectMany(row => row!.AsArray().SelectMany(tok => tok!.AsArray().Select(v => v!.GetValue<float>()))).ToArray();
        var (batch, tokens) = (ids.Length, ids[0].Length);
        return (tensor(ids.SelectMany(r => r).ToArray(), [batch, tokens]), tensor(logits, [batch, tokens, logits.Length / (batch * tokens)]));
    }

    /// <summary>A writable copy of a fixture folder.</summary>
    public static string CopyTo(string name, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(Folder(name)))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }
}

internal static class TensorAssert
{
    public static float MaxAbsDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    public static void BitEqual(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.bytes.SequenceEqual(actual.bytes), $"{what}: bytes differ");
    }
}
