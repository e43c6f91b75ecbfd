using Assistant.Modeling.Export;
using Assistant.Tokenization;

namespace Assistant.Modeling.Tests;

/// <summary>
/// GGUF export checked by llama.cpp itself: the exported file must load there and compute the same
/// logits and greedy tokens as our TorchSharp forward, and tokenize text to the same ids.
/// </summary>
public class GgufExportTests
{
    // "<bos>Hello, GGUF world! 123" as starter ids.
    static readonly int[] Prompt = [StarterVocabulary.Bos, .. "Hello, GGUF world! 123"u8.ToArray().Select(b => (int)b)];

    [Fact]
    public void F32_export_of_a_gqa_llama_reproduces_our_logits_and_greedy_tokens_in_llama_cpp()
    {
        using var temp = new TempFolder();
        var folder = GgufModels.RandomLlamaFolder(temp.Sub("model"));
        var path = GgufModels.Export(folder, temp.Sub("model.gguf"));
        using var model = HfCheckpoint.Load(folder);
        using var llama = new LlamaCppModel(path);

        Assert.Equal("llama", llama.Weights.Metadata["general.architecture"]);
        Assert.Equal("2", llama.Weights.Metadata["llama.attention.head_count_kv"]);
        Assert.Equal(StarterVocabulary.Size, llama.VocabSize);

        var ours = GgufModels.TorchLogits(model, Prompt);
        var theirs = llama.Logits(Prompt);
        var spread = ours[^1].Max() - ours[^1].Min();
        Assert.True(spread > 1f, $"logits too flat ({spread}) for the comparison to mean anything");
        var diff = GgufModels.MaxAbsDiff(ours, theirs);
        Assert.True(diff < 1e-4f, $"max |logit difference| {diff} over {Prompt.Length} positions");

        var greedy = new TokenGenerator(model).Generate(Prompt, SamplingOptions.Greedy(32) with { StopTokenIds = [] });
        Assert.Equal(greedy.TokenIds, llama.Greedy(Prompt, 32));
    }

    /// <summary>
    /// PyTorch-written fixtures (Reference/make_fixtures.py): explicit head_dim 24, one K/V head, q/k/v/o and
    /// MLP biases, Llama 3.1 rope scaling (rope_freqs), tied head. llama.cpp must match transformers' logits.
    /// </summary>
    [Theory]
    [InlineData("llama_gqa_untied")]
    [InlineData("llama_tied_llama3")]
    public void Reference_fixtures_exported_to_gguf_match_transformers_logits_in_llama_cpp(string fixture)
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo(fixture, temp.Sub("model"));
        GgufModels.WriteByteTokenizerJson(folder, size: 96);
        var path = GgufModels.Export(folder, temp.Sub("model.gguf"));
        var (ids, expected) = Fixtures.Expected(fixture);
        using var llama = new LlamaCppModel(path);
        for (var row = 0; row < ids.shape[0]; row++)
        {
            var rowIds = ids[row].data<long>().Select(t => (int)t).ToArray();
            var reference = Enumerable.Range(0, rowIds.Length).Select(i => expected[row, i].data<float>().ToArray()).ToArray();
            var diff = GgufModels.MaxAbsDiff(reference, llama.Logits(rowIds));
            Assert.True(diff < 1e-4f, $"{fixture} row {row}: max |logit difference| {diff}");
        }
    }

    /// <summary>Half-precision matrices (norms stay F32): llama.cpp also rounds activations, so the bound is loose.</summary>
    [Theory]
    [InlineData(ExportDType.F16, 0.05f)]
    [InlineData(ExportDType.BF16, 0.3f)]
    public void Half_precision_exports_load_in_llama_cpp_and_stay_close_to_f32(ExportDType dtype, float tolerance)
    {
        using var temp = new TempFolder();
        var folder = GgufModels.RandomLlamaFolder(temp.Sub("model"), tied: true);
        var f32 = GgufModels.Export(folder, temp.Sub("f32.gguf"));
        var half = GgufModels.Export(folder, temp.Sub("half.gguf"), dtype);
        Assert.InRange(new FileInfo(half).Length, new FileInfo(f32).Length * 0.45, new FileInfo(f32).Length * 0.6);

        using var model = HfCheckpoint.Load(folder);
        using var llama = new LlamaCppModel(half);
        Assert.Equal(dtype == ExportDType.F16 ? "1" : "32", llama.Weights.Metadata["general.file_type"]);
        var ours = GgufModels.TorchLogits(model, Prompt);
        var diff = GgufModels.MaxAbsDiff(ours, llama.Logits(Prompt));
        Assert.True(diff < tolerance, $"{dtype}: max |logit difference| {diff} (bound {tolerance})");
        Assert.True(diff > 0, $"{dtype}: identical to F32 logits; were the weights really written in half precision?");
    }

    [Fact]
    public void Byte_starter_tokenizer_metadata_gives_llama_cpp_our_ids()
    {
        using var temp = new TempFolder();
        var folder = GgufModels.RandomLlamaFolder(temp.Sub("model"), tied: true);
        using var llama = new LlamaCppModel(GgufModels.Export(folder, temp.Sub("model.gguf")));
        var tokenizer = TokenizerLoader.FromModelFolder(folder);
        Assert.Same(ByteTokenizer.Instance, tokenizer);

        Assert.Equal("gpt2", llama.Weights.Metadata["tokenizer.ggml.model"]);
        Assert.Equal(ByteTokenizer.BosId, (int)llama.Weights.NativeHandle.Vocab.BOS!.Value);
        Assert.Equal(ByteTokenizer.EosId, (int)llama.Weights.NativeHandle.Vocab.EOS!.Value);
        Assert.False(llama.Weights.NativeHandle.Vocab.ShouldAddBOS);

        string[] samples =
        [
            "Hello, world!",
            "  two  spaces,\ttab and\nnewline\r\n",
            "naïve café, 日本語, emoji 🦙 and a rare \u0000 byte",
            "<|im_start|>user\nhi<|im_end|>\n<|endoftext|>",
            "don't stop: 12345 + 678 = 13023",
        ];
        foreach (var text in samples)
        {
            Assert.Equal(tokenizer.Encode(text), llama.Tokenize(text, addBos: false, special: false));
            Assert.Equal(tokenizer.Encode(text, allowSpecialTokens: true), llama.Tokenize(text, addBos: false, special: true));
        }
        Assert.Equal([ByteTokenizer.ImStartId, .. "x"u8.ToArray().Select(b => (int)b), ByteTokenizer.ImEndId],
            llama.Tokenize("<|im_start|>x<|im_end|>", addBos: false, special: true));
    }

    /// <summary>
    /// Real HF tokenizers: Llama 3's byte-level BPE (gpt2 + merges + llama-bpe split) and a SentencePiece
    /// BPE shipped as tokenizer.json (llama: scores derived from the merge order, byte fallback). llama.cpp
    /// must give the ids transformers.js gives (the fixture), and the special ids our tokenizer uses.
    /// </summary>
    [Theory]
    [InlineData("llama3", 128_256, "gpt2")]
    [InlineData("llama2", 32_000, "llama")]
    public void Hf_tokenizer_json_exports_so_llama_cpp_tokenizes_like_transformers(string name, int vocabSize, string ggufModel)
    {
        using var temp = new TempFolder();
        var folder = GgufModels.TinyLlamaWithTokenizer(temp.Sub(name), name, vocabSize);
        using var llama = new LlamaCppModel(GgufModels.Export(folder, temp.Sub(name + ".gguf")), contextSize: 64);
        Assert.Equal(ggufModel, llama.Weights.Metadata["tokenizer.ggml.model"]);
        var ours = TokenizerLoader.FromModelFolder(folder);
        var expected = GgufModels.ExpectedIds(name);

        foreach (var (text, ids, special) in expected)
        {
            var theirs = llama.Tokenize(text, addBos: false, special);
            Assert.True(ids.SequenceEqual(theirs), $"{name} '{text}': transformers [{string.Join(", ", ids)}], llama.cpp [{string.Join(", ", theirs)}]");
        }
        Assert.Equal(ours.AddBos, llama.Weights.NativeHandle.Vocab.ShouldAddBOS);
        Assert.Equal(ours.Special.Bos!.Value.Id, (int)llama.Weights.NativeHandle.Vocab.BOS!.Value);
        Assert.Equal(ours.Special.Eos!.Value.Id, (int)llama.Weights.NativeHandle.Vocab.EOS!.Value);
    }

    [Fact]
    public void Gguf_export_of_a_non_llama_model_names_its_model_type_and_writes_nothing()
    {
        using var temp = new TempFolder();
        var folder = ModelPresets.Create("gpt2", "tiny", seed: 1, temp.Sub("gpt2"));
        var target = temp.Sub("gpt2.gguf");
        var error = Assert.Throws<ModelFormatException>(() => ModelExport.Export(folder, ExportFormat.Gguf, target));
        Assert.Contains("model_type 'gpt2'", error.Message);
        Assert.Contains("only llama", error.Message);
        Assert.False(File.Exists(target));
    }

    [Fact]
    public void Gguf_export_without_a_tokenizer_says_one_is_needed()
    {
        using var temp = new TempFolder();
        var folder = Fixtures.CopyTo("llama_gqa_untied", temp.Sub("model"));
        var error = Assert.Throws<ModelFormatException>(() => ModelExport.Export(folder, ExportFormat.Gguf, temp.Sub("x.gguf")));
        Assert.Contains("no tokenizer", error.Message);
    }

    [Fact]
    public void Hf_export_writes_a_loadable_f16_folder_with_the_tokenizer()
    {
        using var temp = new TempFolder();
        var folder = GgufModels.RandomLlamaFolder(temp.Sub("model"));
        var result = ModelExport.Export(folder, ExportFormat.Hf, temp.Sub("out"), ExportDType.F16);
        Assert.True(File.Exists(Path.Combine(result.Path, "tokenizer.json")));
        using var original = HfCheckpoint.Load(folder);
        using var exported = HfCheckpoint.Load(result.Path);
        var diff = GgufModels.MaxAbsDiff(GgufModels.TorchLogits(original, Prompt), GgufModels.TorchLogits(exported, Prompt));
        Assert.InRange(diff, 1e-7f, 0.05f);
    }

    [Fact]
    public void A_tensor_that_does_not_match_its_declared_shape_fails_the_write_and_leaves_no_file()
    {
        using var temp = new TempFolder();
        var gguf = new GgufWriter();
        gguf.AddString("general.architecture", "llama");
        gguf.AddTensor("token_embd.weight", [4, 8], GgmlType.F32, () => TorchSharp.torch.zeros(8, 4));
        var path = temp.Sub("bad.gguf");
        var error = Assert.Throws<InvalidOperationException>(() => gguf.WriteTo(path));
        Assert.Contains("token_embd.weight", error.Message);
        Assert.Empty(Directory.EnumerateFiles(temp.Path));
        Assert.Throws<ArgumentException>(() => gguf.AddString("general.architecture", "gpt2"));
    }

    [Theory]
    [InlineData("gguf", ExportFormat.Gguf)]
    [InlineData("HF", ExportFormat.Hf)]
    public void Format_names_parse(string text, ExportFormat expected) => Assert.Equal(expected, ModelExport.ParseFormat(text));

    [Fact]
    public void Unknown_format_and_dtype_names_are_refused_with_the_choices()
    {
        Assert.Contains("hf or gguf", Assert.Throws<ArgumentException>(() => ModelExport.ParseFormat("onnx")).Message);
        Assert.Contains("f32, f16 or bf16", Assert.Throws<ArgumentException>(() => ModelExport.ParseDType("q4_0")).Message);
    }
}
