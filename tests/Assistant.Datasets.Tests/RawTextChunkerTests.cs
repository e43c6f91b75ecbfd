using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace Assistant.Datasets.Tests;

public sealed class RawTextChunkerTests
{
    private static readonly string Document = string.Join("\n\n", Enumerable.Range(1, 60).Select(p =>
        $"Paragraph {p}. " + string.Join(' ', Enumerable.Range(0, 10 + p % 7).Select(w => $"word{(p * 31 + w) % 97}"))));

    [Fact]
    public async Task Chunks_fit_the_size_overlap_by_the_given_amount_and_rebuild_the_document()
    {
        var (result, chunks) = await Chunk(Encoding.UTF8.GetBytes(Document), "notes.txt", 300, 50);

        Assert.Equal((1L, 300, 50), (result.Documents, result.ChunkChars, result.OverlapChars));
        Assert.Equal(chunks.Count, result.Chunks);
        Assert.True(chunks.Count >= Document.Length / 300);
        Assert.All(chunks, c => Assert.InRange(c.Length, 1, 300));
        for (var i = 1; i < chunks.Count; i++)
        {
            Assert.StartsWith(chunks[i - 1][^50..], chunks[i]);
        }

        Assert.Equal(Document, chunks[0] + string.Concat(chunks.Skip(1).Select(c => c[50..])));
    }

    [Fact]
    public async Task Cuts_prefer_paragraph_breaks_in_the_last_fifth_of_a_chunk()
    {
        var (_, chunks) = await Chunk(Encoding.UTF8.GetBytes(Document), "notes.md", 400, 0);

        Assert.All(chunks.SkipLast(1), c => Assert.True(c.EndsWith("\n\n", StringComparison.Ordinal) || c.EndsWith('\n') || c.EndsWith(' '), c[^20..]));
        Assert.Equal(Document, string.Concat(chunks));
    }

    [Fact]
    public async Task Crlf_is_normalized_and_a_bom_dropped_and_surrogate_pairs_never_split()
    {
        var text = "\uFEFF" + string.Concat(Enumerable.Repeat("ab😀\r\n", 200));
        var (_, chunks) = await Chunk(Encoding.UTF8.GetBytes(text), "emoji.txt", 17, 3);

        Assert.All(chunks, c =>
        {
            Assert.DoesNotContain('\r', c);
            Assert.False(char.IsLowSurrogate(c[0]) || char.IsHighSurrogate(c[^1]), c);
        });
        Assert.DoesNotContain('\uFEFF', chunks[0]);
    }

    [Fact]
    public async Task A_short_document_is_one_chunk_and_a_blank_one_is_skipped()
    {
        var (result, chunks) = await Chunk(Encoding.UTF8.GetBytes("Короткий текст."), "short.txt", 1000, 100);

        Assert.Equal(["Короткий текст."], chunks);
        Assert.Equal(1, result.Documents);
        var error = await Assert.ThrowsAsync<DatasetFormatException>(() => Chunk(Encoding.UTF8.GetBytes(" \n\t\r\n"), "blank.txt", 1000, 100));
        Assert.Equal(DatasetProblemCodes.EmptyFile, error.Code);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_zip_of_txt_and_md_files_is_chunked_document_by_document(bool seekable)
    {
        var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, string content)
            {
                using var writer = new StreamWriter(archive.CreateEntry(name).Open(), new UTF8Encoding(false));
                writer.Write(content);
            }

            Add("docs/a.txt", "First document.");
            Add("docs/b.md", "# Second\n\n" + new string('x', 250));
            Add("docs/image.png", "not text");
            Add("__MACOSX/docs/._a.txt", "resource fork");
            Add("docs/.hidden.txt", "hidden");
            archive.CreateEntry("docs/empty/");
        }

        Stream input = seekable ? new MemoryStream(zip.ToArray()) : new ForwardOnlyStream(zip.ToArray());
        var (result, chunks) = await Chunk(input, "upload.ZIP", 100, 10);

        Assert.Equal(2, result.Documents);
        Assert.Equal("First document.", chunks[0]);
        Assert.StartsWith("# Second", chunks[1]);
        Assert.Equal(chunks.Count, result.Chunks);
        Assert.DoesNotContain(chunks, c => c.Contains("not text") || c.Contains("resource fork") || c.Contains("hidden"));
    }

    [Fact]
    public async Task Other_file_types_are_refused()
    {
        var error = await Assert.ThrowsAsync<DatasetFormatException>(() => Chunk(new byte[10], "data.pdf", 100, 10));

        Assert.Equal(DatasetProblemCodes.UnsupportedFileType, error.Code);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Chunk(new byte[10], "a.txt", 100, 60));
    }

    [Fact]
    public async Task The_output_is_valid_text_jsonl()
    {
        var output = new MemoryStream();
        await RawTextChunker.WriteJsonlAsync(new MemoryStream(Encoding.UTF8.GetBytes(Document)), "doc.txt", output, 500, 50, TestContext.Current.CancellationToken);
        output.Position = 0;

        var report = await DatasetValidator.ValidateAsync(output, new ValidationOptions { Format = DatasetFormat.Text }, TestContext.Current.CancellationToken);

        Assert.True(report.IsValid);
        Assert.True(report.Statistics!.Examples > 1);
    }

    private static Task<(ChunkingResult, List<string>)> Chunk(byte[] input, string name, int chunkChars, int overlapChars) =>
        Chunk(new MemoryStream(input), name, chunkChars, overlapChars);

    private static async Task<(ChunkingResult, List<string>)> Chunk(Stream input, string name, int chunkChars, int overlapChars)
    {
        var output = new MemoryStream();
        var result = await RawTextChunker.WriteJsonlAsync(input, name, output, chunkChars, overlapChars, TestContext.Current.CancellationToken);
        var chunks = Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!).ToList();
        return (result, chunks);
    }
}

/// <summary>A stream that can only be read forward, like an HTTP request body.</summary>
internal sealed class ForwardOnlyStream(byte[] data) : Stream
{
    private readonly MemoryStream inner = new(data);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, 1000));
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
