using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

public sealed class TokenizerLoaderTests(ReferenceTokenizers reference, Gpt2ModelFolder gpt2Folder) : IClassFixture<Gpt2ModelFolder>, IDisposable
{
    private const string Multilingual = "Привет, мир! 😀 你好 <code>x  =  1;</code>\n\n\tdone   ";

    private readonly string scratch = Directory.CreateTempSubdirectory("assistant-loader-").FullName;

    public void Dispose() => Directory.Delete(scratch, recursive: true);

    [Fact]
    public void VocabAndMergesFolderMatchesTheGpt2Tokenizer()
    {
        var tokenizer = TokenizerLoader.FromModelFolder(gpt2Folder.Folder);

        Assert.IsType<ByteLevelBpeTokenizer>(tokenizer);
        Assert.Equal(50257, tokenizer.VocabSize);
        Assert.Equal(new SpecialToken("<|endoftext|>", 50256), tokenizer.Special.Eos);
        Assert.Equal([15496, 995], tokenizer.Encode("Hello world"));
        foreach (var text in reference.Expected.Tokenizers["llama3"].Samples.Select(s => s.Text).Append(Multilingual))
        {
            Assert.Equal(Gpt2Tokenizer.Instance.Encode(text), tokenizer.Encode(text));
        }

        Assert.Equal([15496, 50256], tokenizer.Encode("Hello<|endoftext|>", allowSpecialTokens: true));
    }

    [Fact]
    public void TokenizerConfigOverridesSpecialTokensAndBos()
    {
        var folder = CopyOf(gpt2Folder.Folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"pad_token": {"content": "<|endoftext|>", "__type": "AddedToken"}, "add_bos_token": true}""");

        var tokenizer = TokenizerLoader.FromModelFolder(folder);

        Assert.Equal(new SpecialToken("<|endoftext|>", 50256), tokenizer.Special.Pad);
        Assert.True(tokenizer.AddBos);
        Assert.Equal([50256, 15496, 995], tokenizer.Encode("Hello world", addBos: tokenizer.AddBos));
    }

    [Fact]
    public void StarterFolderLoadsTheByteTokenizerAndChatML()
    {
        TokenizerLoader.WriteStarterTokenizer(scratch);

        Assert.Same(ByteTokenizer.Instance, TokenizerLoader.FromModelFolder(scratch));
        Assert.Equal(ChatTemplateFormat.ChatML, ChatTemplate.FromModelFolder(scratch).Format);
        var config = TokenizerConfig.Read(scratch);
        Assert.Equal(("<|bos|>", "<|endoftext|>", "<|pad|>", false), (config.BosToken, config.EosToken, config.PadToken, config.AddBosToken));
        Assert.Equal(ByteTokenizer.ControlTokens, config.AddedTokens);
        using var map = JsonDocument.Parse(File.ReadAllText(Path.Combine(scratch, "special_tokens_map.json")));
        Assert.Equal("<|endoftext|>", map.RootElement.GetProperty("eos_token").GetString());
    }

    [Fact]
    public void StarterTokenizerJsonGivesTheByteTokenizersIds()
    {
        TokenizerLoader.WriteStarterTokenizer(scratch);

        var fromJson = TokenizerLoader.FromTokenizerJson(Path.Combine(scratch, "tokenizer.json"), TokenizerConfig.Read(scratch));

        Assert.IsType<ByteLevelBpeTokenizer>(fromJson);
        Assert.Equal(ByteTokenizer.VocabularySize, fromJson.VocabSize);
        Assert.Equal(ByteTokenizer.Instance.Special, fromJson.Special);
        const string chat = "<|im_start|>user\nПривет 😀<|im_end|>\n<|endoftext|>";
        Assert.Equal(ByteTokenizer.Instance.Encode(Multilingual), fromJson.Encode(Multilingual));
        Assert.Equal(ByteTokenizer.Instance.Encode(chat, allowSpecialTokens: true), fromJson.Encode(chat, allowSpecialTokens: true));
        Assert.Equal(chat, fromJson.Decode(fromJson.Encode(chat, allowSpecialTokens: true)));
    }

    [Fact]
    public void StarterMarkerWinsOverOtherTokenizerFiles()
    {
        TokenizerLoader.WriteStarterTokenizer(scratch);
        File.WriteAllText(Path.Combine(scratch, "tokenizer.json"), "{}");

        Assert.Same(ByteTokenizer.Instance, TokenizerLoader.FromModelFolder(scratch));
    }

    [Fact]
    public void MergesInStringAndPairFormGiveTheSameIds()
    {
        var vocab = """{"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "abc": 5, "Ġa": 6}""";
        var pairs = WriteTinyTokenizerJson("pairs", vocab, """[["a", "b"], ["ab", "c"], ["Ġ", "a"]]""");
        var strings = WriteTinyTokenizerJson("strings", vocab, """["a b", "ab c", "Ġ a"]""");

        // "abc" merges fully; " ab" takes a+b (rank 0) before Ġ+a (rank 2) and then has no merge left.
        Assert.Equal([5, 3, 4], TokenizerLoader.FromTokenizerJson(pairs).Encode("abc ab"));
        Assert.Equal([5, 3, 4], TokenizerLoader.FromTokenizerJson(strings).Encode("abc ab"));
    }

    [Fact]
    public void NonSpecialAddedTokensAreAlwaysRecognisedAndSpecialOnesOnlyWhenAllowed()
    {
        var path = WriteTinyTokenizerJson(
            "added",
            """{"a": 0, "b": 1, "<": 2, ">": 3, "x": 4, "y": 5, "|": 6}""",
            "[]",
            """[{"id": 7, "content": "<x>", "special": false}, {"id": 8, "content": "<|y|>", "special": true}]""");
        var tokenizer = TokenizerLoader.FromTokenizerJson(path);

        Assert.Equal([0, 7, 1, 2, 6, 5, 6, 3], tokenizer.Encode("a<x>b<|y|>"));
        Assert.Equal([0, 7, 1, 8], tokenizer.Encode("a<x>b<|y|>", allowSpecialTokens: true));
        Assert.Equal("a<x>b", tokenizer.Decode([0, 7, 1, 8], skipSpecialTokens: true));
        Assert.Equal(9, tokenizer.VocabSize);
    }

    [Fact]
    public void MissingOrEmptyFoldersSayWhatWasExpected()
    {
        Assert.Throws<DirectoryNotFoundException>(() => TokenizerLoader.FromModelFolder(Path.Combine(scratch, "absent")));
        var error = Assert.Throws<FileNotFoundException>(() => TokenizerLoader.FromModelFolder(scratch));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("tokenizer.model", error.Message);
    }

    [Fact]
    public void UnsupportedOrInconsistentFilesNameTheProblem()
    {
        File.WriteAllText(Path.Combine(scratch, "tokenizer_config.json"), """{"assistant_tokenizer": "bytes-v9"}""");
        Assert.Contains("bytes-v9", Assert.Throws<InvalidDataException>(() => TokenizerLoader.FromModelFolder(scratch)).Message);

        var unigram = Path.Combine(scratch, "unigram.json");
        File.WriteAllText(unigram, """{"model": {"type": "Unigram", "vocab": []}}""");
        Assert.Contains("Unigram", Assert.Throws<InvalidDataException>(() => TokenizerLoader.FromTokenizerJson(unigram)).Message);

        var noVocab = Path.Combine(scratch, "no-vocab.json");
        File.WriteAllText(noVocab, """{"model": {"type": "BPE", "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}""");
        var missing = Assert.Throws<InvalidDataException>(() => TokenizerLoader.FromTokenizerJson(noVocab)).Message;
        Assert.Contains("no-vocab.json", missing);
        Assert.Contains("'vocab'", missing);

        var broken = Path.Combine(scratch, "broken.json");
        File.WriteAllText(broken, """{"model": """);
        Assert.Contains("broken.json", Assert.Throws<InvalidDataException>(() => TokenizerLoader.FromTokenizerJson(broken)).Message);

        var folder = CopyOf(gpt2Folder.Folder);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), """{"pad_token": "<pad>"}""");
        Assert.Contains("pad_token '<pad>'", Assert.Throws<InvalidDataException>(() => TokenizerLoader.FromModelFolder(folder)).Message);
    }

    private string CopyOf(string folder)
    {
        var copy = Path.Combine(scratch, Path.GetFileName(folder));
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(folder))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        }

        return copy;
    }

    private string WriteTinyTokenizerJson(string name, string vocab, string merges, string addedTokens = "[]")
    {
        var path = Path.Combine(scratch, name + ".json");
        File.WriteAllText(path, $$"""
            {
              "added_tokens": {{addedTokens}},
              "normalizer": null,
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
              "post_processor": null,
              "decoder": {"type": "ByteLevel"},
              "model": {"type": "BPE", "vocab": {{vocab}}, "merges": {{merges}}}
            }
            """);
        return path;
    }
}
