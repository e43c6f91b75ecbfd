using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Assistant.Modeling.Training;
using Assistant.Tokenization;

// libtorch's global RNG and thread count are process-wide: runs that check bit-exactness must not race.
[assembly: Xunit.v3.Parallelization(Mode = Xunit.Sdk.ParallelMode.None)]

namespace Assistant.Training.Tests;

internal static class TestProcess
{
    /// <summary>One intra-op thread: tiny models gain nothing from two, and shared cores stall OpenMP (PLATFORM.md).</summary>
    [ModuleInitializer]
    internal static void Setup()
    {
        MachineInfo.PreferPassiveOpenMpWaits();
        TorchSharp.torch.set_num_threads(1);
    }
}

/// <summary>A temporary folder deleted when the test ends.</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("assistant-training-").FullName;
    public string Sub(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() => Directory.Delete(Path, recursive: true);
}

internal static class TestData
{
    public static string File(string name) => Path.Combine(AppContext.BaseDirectory, "Data", name);

    public static string Write(string folder, string name, params string[] lines)
    {
        var path = Path.Combine(folder, name);
        System.IO.File.WriteAllLines(path, lines);
        return path;
    }
}

/// <summary>Tiny Llama models with the starter byte tokenizer: d=64, 2 layers, ctx 128 (~110k parameters).</summary>
internal static class TinyModel
{
    public static string Create(string folder, long seed = 1, int hidden = 64, int layers = 2, int context = 128)
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = Assistant.Modeling.StarterVocabulary.Size,
            ["hidden_size"] = hidden,
            ["intermediate_size"] = hidden * 8 / 3 / 8 * 8 + 8,
            ["num_hidden_layers"] = layers,
            ["num_attention_heads"] = 4,
            ["num_key_value_heads"] = 2,
            ["max_position_embeddings"] = context,
            ["rms_norm_eps"] = 1e-5,
            ["tie_word_embeddings"] = true,
            ["bos_token_id"] = Assistant.Modeling.StarterVocabulary.Bos,
            ["eos_token_id"] = Assistant.Modeling.StarterVocabulary.Eos,
            ["pad_token_id"] = Assistant.Modeling.StarterVocabulary.Pad,
        };
        using var model = Assistant.Modeling.HfCheckpoint.CreateUntrained(Assistant.Modeling.ModelConfig.Parse(json));
        using (var generator = new TorchSharp.torch.Generator((ulong)seed)) model.InitializeWeights(generator);
        model.GenerationConfig = new JsonObject
        {
            ["eos_token_id"] = new JsonArray(Assistant.Modeling.StarterVocabulary.Eos, Assistant.Modeling.StarterVocabulary.ImEnd),
            ["pad_token_id"] = Assistant.Modeling.StarterVocabulary.Pad,
        };
        Assistant.Modeling.HfCheckpoint.Save(model, folder, new Assistant.Modeling.HfSaveOptions { WriteExtraFiles = TokenizerLoader.WriteStarterTokenizer });
        return folder;
    }

    /// <summary>Small, quick defaults; tests override what they check.</summary>
    public static TrainingConfig Config => new()
    {
        Method = TrainingMethods.Full, MaxSteps = 10, BatchSize = 4, MaxLength = 64, LearningRate = 3e-3,
        WarmupSteps = 2, EvalSteps = 0, SaveSteps = 0, EvalSamples = 0, MaxNewTokens = 16, NumThreads = 1, Seed = 7,
    };
}

internal static class Metrics
{
    public static List<JsonObject> Read(string outputDir) =>
        System.IO.File.ReadAllLines(Path.Combine(outputDir, TrainingRun.MetricsFile)).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    public static List<JsonObject> Of(string outputDir, string type) => Read(outputDir).Where(o => (string?)o["type"] == type).ToList();
}

/// <summary>IProgress that runs on the reporting thread (System.Progress posts to the thread pool).</summary>
internal sealed class SyncProgress(Action<TrainingEvent> report) : IProgress<TrainingEvent>
{
    public void Report(TrainingEvent value) => report(value);
}
