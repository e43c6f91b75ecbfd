using System.Text;
using System.Text.Json.Nodes;
using Assistant.Modeling.Export;
using Assistant.Tokenization;
using LLama;
using LLama.Common;
using LLama.Native;
using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>A GGUF file loaded in llama.cpp (LLamaSharp, CPU, one thread, flash attention off, F32 KV cache).</summary>
internal sealed class LlamaCppModel : IDisposable
{
    static readonly StringBuilder Log = new();

    // llama.cpp logs a lot to stderr; keep it, and show it only when loading fails.
    static LlamaCppModel() => NativeLibraryConfig.All.WithLogCallback((_, message) => { lock (Log) Log.Append(message); });

    public LLamaWeights Weights { get; }
    public LLamaContext Context { get; }
    public int VocabSize => Weights.NativeHandle.Vocab.Count;

    public LlamaCppModel(string ggufPath, uint contextSize = 256)
    {
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = contextSize,
            BatchSize = contextSize,
            UBatchSize = contextSize,
            GpuLayerCount = 0,
            Threads = 1,
            BatchThreads = 1,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        try
        {
            Weights = LLamaWeights.LoadFromFile(parameters);
            Context = Weights.CreateContext(parameters);
        }
        catch (Exception e)
        {
            string log;
            lock (Log) log = Log.ToString();
            throw new InvalidOperationException($"llama.cpp could not load '{ggufPath}': {e.Message}\n--- llama.cpp log (end) ---\n{log[Math.Max(0, log.Length - 4000)..]}", e);
        }
    }

    /// <summary>Raw logits [tokens][vocab] for <paramref name="ids"/> at positions 0..n-1 of an empty cache.</summary>
    public float[][] Logits(IReadOnlyList<int> ids)
    {
        Context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (var i = 0; i < ids.Count; i++) batch.Add(ids[i], i, LLamaSeqId.Zero, logits: true);
        Decode(batch);
        return Enumerable.Range(0, ids.Count).Select(i => Context.NativeHandle.GetLogitsIth(i).ToArray()).ToArray();
    }

    /// <summary>Greedy continuation: argmax of the raw logits, token by token (no sampler chain).</summary>
    public List<int> Greedy(IReadOnlyList<int> prompt, int count)
    {
        Context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (var i = 0; i < prompt.Count; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, logits: i == prompt.Count - 1);
        Decode(batch);
        var generated = new List<int>();
        for (var step = 0; step < count; step++)
        {
            var next = ArgMax(Context.NativeHandle.GetLogitsIth(batch.TokenCount - 1));
            generated.Add(next);
            batch.Clear();
            batch.Add(next, prompt.Count + step, LLamaSeqId.Zero, logits: true);
            Decode(batch);
        }
        return generated;
    }

    public int[] Tokenize(string text, bool addBos, bool special) =>
        Context.Tokenize(text, addBos, special).Select(t => (int)t).ToArray();

    void Decode(LLamaBatch batch)
    {
        var result = Context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode returned {result}.");
    }

    static int ArgMax(ReadOnlySpan<float> values)
    {
        var best = 0;
        for (var i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        Context.Dispose();
        Weights.Dispose();
    }
}

/// <summary>Small Llama model folders for the GGUF tests.</summary>
internal static class GgufModels
{
    /// <summary>
    /// A random Llama with grouped-query attention (4 heads, 2 K/V heads), an untied head, the starter
    /// byte vocabulary (264 rows, tokenizer files included). Init std 0.2 spreads the logits so greedy
    /// choices are not near-ties that float rounding could flip.
    /// </summary>
    public static string RandomLlamaFolder(string folder, bool tied = false, long seed = 7)
    {
        var config = ModelConfig.Parse(new JsonObject
        {
            ["model_type"] = "llama",
            ["vocab_size"] = StarterVocabulary.Size,
            ["hidden_size"] = 64,
            ["intermediate_size"] = 160,
            ["num_hidden_layers"] = 2,
            ["num_attention_heads"] = 4,
            ["num_key_value_heads"] = 2,
            ["max_position_embeddings"] = 256,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["tie_word_embeddings"] = tied,
            ["initializer_range"] = 0.2,
            ["bos_token_id"] = StarterVocabulary.Bos,
            ["eos_token_id"] = StarterVocabulary.Eos,
            ["pad_token_id"] = StarterVocabulary.Pad,
        });
        using var model = HfCheckpoint.CreateUntrained(config);
        using (var generator = new TorchSharp.torch.Generator(unchecked((ulong)seed)))
            model.InitializeWeights(generator);
        HfCheckpoint.Save(model, folder, new HfSaveOptions { WriteExtraFiles = TokenizerLoader.WriteStarterTokenizer });
        return folder;
    }

    /// <summary>
    /// A byte-level tokenizer.json with one token per byte for the first <paramref name="size"/> bytes, no
    /// merges: enough for llama.cpp to load a fixture whose vocabulary is smaller than the starter's.
    /// </summary>
    public static void WriteByteTokenizerJson(string folder, int size)
    {
        var vocab = new JsonObject();
        for (var b = 0; b < size; b++) vocab[Gpt2ByteChar(b).ToString()] = b;
        var json = new JsonObject
        {
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = true },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray() },
        };
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), json.ToJsonString());
    }

    /// <summary>GPT-2's printable stand-in for a byte: printable Latin-1 bytes are themselves, the rest count up from U+0100.</summary>
    static char Gpt2ByteChar(int b)
    {
        static bool Printable(int x) => x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        return Printable(b) ? (char)b : (char)(256 + Enumerable.Range(0, b).Count(x => !Printable(x)));
    }

    /// <summary>A one-layer Llama (width 16) with <paramref name="vocabSize"/> rows and a real HF tokenizer from the tokenization fixtures.</summary>
    public static string TinyLlamaWithTokenizer(string folder, string tokenizer, int vocabSize)
    {
        var config = ModelConfig.Parse(new JsonObject
        {
            ["model_type"] = "llama",
            ["vocab_size"] = vocabSize,
            ["hidden_size"] = 16,
            ["intermediate_size"] = 32,
            ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 2,
            ["max_position_embeddings"] = 64,
            ["tie_word_embeddings"] = true,
        });
        using var model = HfCheckpoint.CreateUntrained(config);
        HfCheckpoint.Save(model, folder);
        var source = Path.Combine(AppContext.BaseDirectory, "TokenizerFixtures", tokenizer);
        File.Copy(Path.Combine(source, "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(source, "tokenizer.json.gz")), System.IO.Compression.CompressionMode.Decompress);
        using var json = File.Create(Path.Combine(folder, "tokenizer.json"));
        gz.CopyTo(json);
        return folder;
    }

    /// <summary>transformers.js ids for the fixture tokenizer's samples (special = special tokens parsed).</summary>
    public static IEnumerable<(string Text, int[] Ids, bool Special)> ExpectedIds(string tokenizer)
    {
        var file = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TokenizerFixtures", "expected-ids.json")))!;
        var entry = file["tokenizers"]![tokenizer]!;
        IEnumerable<(string, int[], bool)> Read(string key, bool special) =>
            entry[key]!.AsArray().Select(s => (s!["text"]!.GetValue<string>(), s["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray(), special));
        return Read("samples", false).Concat(Read("specialSamples", true));
    }

    /// <summary>Our logits [tokens, vocab] for one sequence.</summary>
    public static float[][] TorchLogits(CausalLM model, IReadOnlyList<int> ids)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.forward(tensor(ids.Select(t => (long)t).ToArray(), [1, ids.Count]))[0];
        return Enumerable.Range(0, ids.Count).Select(i => logits[i].data<float>().ToArray()).ToArray();
    }

    public static float MaxAbsDiff(float[][] a, float[][] b) =>
        a.Zip(b).Max(rows => rows.First.Zip(rows.Second).Max(p => Math.Abs(p.First - p.Second)));

    public static string Export(string folder, string path, ExportDType dtype = ExportDType.F32) =>
        ModelExport.Export(folder, ExportFormat.Gguf, path, dtype).Path;
}
