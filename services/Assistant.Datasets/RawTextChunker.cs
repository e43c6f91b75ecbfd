using System.Buffers;
using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Assistant.Datasets;

/// <summary>What <see cref="RawTextChunker.WriteJsonlAsync"/> wrote: documents read, <c>{"text"}</c> records written.</summary>
public sealed record ChunkingResult(long Documents, long Chunks, int ChunkChars, int OverlapChars);

/// <summary>
/// Turns raw text (<c>.txt</c>, <c>.md</c>, or a <c>.zip</c> of them) into <c>{"text"}</c> JSONL for continued
/// pretraining: each document is cut into chunks of at most <c>chunkChars</c> characters, consecutive chunks of a
/// document sharing <c>overlapChars</c> characters. A cut prefers a paragraph break, then a line break, then a space,
/// in the last fifth of the chunk, and never splits a surrogate pair. Line breaks are normalised to <c>\n</c>;
/// documents with no text but whitespace are skipped. Memory is bounded by the chunk size, whatever the document size.
/// </summary>
public static class RawTextChunker
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly string[] BreaksByPreference = ["\n\n", "\n", " "];

    /// <summary>Writes the chunks of a text file or zip to <paramref name="output"/> as <c>{"text"}</c> lines.</summary>
    /// <param name="input">The upload (read to its end, not disposed).</param>
    /// <param name="fileName">Its name; the extension (.txt, .md, .markdown, .zip) says what it is.</param>
    /// <param name="output">Where the JSONL goes (not disposed).</param>
    /// <param name="chunkChars">Most characters per chunk, at least 16.</param>
    /// <param name="overlapChars">Characters each chunk repeats from the end of the previous one; at most half a chunk.</param>
    /// <param name="ct">Stops the work.</param>
    /// <exception cref="DatasetFormatException"><c>unsupported_file_type</c> for other file types, <c>empty_file</c> when no document has text.</exception>
    public static async Task<ChunkingResult> WriteJsonlAsync(Stream input, string fileName, Stream output, int chunkChars, int overlapChars,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkChars, 16);
        ArgumentOutOfRangeException.ThrowIfNegative(overlapChars);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(overlapChars, chunkChars / 2);

        var writer = new ChunkWriter(output, chunkChars, overlapChars);
        if (IsText(fileName))
        {
            await writer.WriteDocumentAsync(input, ct).ConfigureAwait(false);
        }
        else if (fileName.EndsWith(".zip", StringComparison.OrdinalIgnoreCase))
        {
            await WriteZipAsync(input, writer, ct).ConfigureAwait(false);
        }
        else
        {
            throw new DatasetFormatException(DatasetProblemCodes.UnsupportedFileType,
                $"'{Path.GetFileName(fileName)}' is not a .txt, .md or .zip file");
        }

        await output.FlushAsync(ct).ConfigureAwait(false);
        return writer.Documents > 0
            ? new ChunkingResult(writer.Documents, writer.Chunks, chunkChars, overlapChars)
            : throw new DatasetFormatException(DatasetProblemCodes.EmptyFile, $"'{Path.GetFileName(fileName)}' holds no text");
    }

    private static bool IsText(string name) =>
        name.EndsWith(".txt", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".md", StringComparison.OrdinalIgnoreCase)
        || name.EndsWith(".markdown", StringComparison.OrdinalIgnoreCase);

    // Zip entries in archive order; a non-seekable upload is spooled to a temporary file first (ZipArchive would
    // otherwise copy it all into memory).
    private static async Task WriteZipAsync(Stream input, ChunkWriter writer, CancellationToken ct)
    {
        string? spool = null;
        var source = input;
        try
        {
            if (!input.CanSeek)
            {
                spool = Path.GetTempFileName();
                source = new FileStream(spool, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
                await input.CopyToAsync(source, ct).ConfigureAwait(false);
                source.Position = 0;
            }

            using var archive = new ZipArchive(source, ZipArchiveMode.Read, leaveOpen: true);
            foreach (var entry in archive.Entries)
            {
                var name = entry.FullName;
                var hidden = name.StartsWith("__MACOSX/", StringComparison.Ordinal) || Path.GetFileName(name).StartsWith('.');
                if (name.EndsWith('/') || hidden || !IsText(name))
                {
                    continue;
                }

                await using var stream = entry.Open();
                await writer.WriteDocumentAsync(stream, ct).ConfigureAwait(false);
            }
        }
        finally
        {
            if (!ReferenceEquals(source, input))
            {
                await source.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class ChunkWriter(Stream output, int chunkChars, int overlapChars)
    {
        private readonly char[] window = new char[chunkChars];
        private readonly char[] readBuffer = new char[8192];

        public long Documents { get; private set; }

        public long Chunks { get; private set; }

        public async Task WriteDocumentAsync(Stream document, CancellationToken ct)
        {
            using var reader = new StreamReader(document, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16, leaveOpen: true);
            var filled = 0;
            var pendingCr = false;
            var chunks = 0L;
            var carried = 0; // overlap characters at the start of the window, already written
            var hasText = false;
            while (true)
            {
                var read = await reader.ReadAsync(readBuffer, ct).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }

                for (var k = 0; k < read; k++)
                {
                    var c = readBuffer[k];
                    if (pendingCr && c == '\n')
                    {
                        pendingCr = false;
                        continue; // "\r\n" was written as "\n" already
                    }

                    pendingCr = c == '\r';
                    c = pendingCr ? '\n' : c;
                    hasText |= !char.IsWhiteSpace(c);
                    window[filled++] = c;
                    if (filled == chunkChars)
                    {
                        var cut = Cut(window);
                        await WriteChunkAsync(window.AsMemory(0, cut), ct).ConfigureAwait(false);
                        chunks++;
                        var keep = Math.Max(0, filled - cut) + Math.Min(overlapChars, cut);
                        var from = filled - keep;
                        if (from > 0 && from < filled && char.IsLowSurrogate(window[from]))
                        {
                            from--; // keep the pair whole
                        }

                        Array.Copy(window, from, window, 0, filled - from);
                        filled -= from;
                        carried = cut - from;
                    }
                }
            }

            // The rest, unless it adds nothing but whitespace to what was written.
            if (window.AsSpan(carried, filled - carried).ContainsAnyExcept(" \t\n\r"))
            {
                await WriteChunkAsync(window.AsMemory(0, filled), ct).ConfigureAwait(false);
                chunks++;
            }

            if (hasText)
            {
                Documents++;
                Chunks += chunks;
            }
        }

        // Where to end a full window: the last paragraph break, line break or space in its last fifth; else the end
        // (moved back one if it would split a surrogate pair).
        private int Cut(char[] text)
        {
            var span = text.AsSpan(0, chunkChars);
            var floor = chunkChars - chunkChars / 5;
            foreach (var breakAt in BreaksByPreference)
            {
                var at = span.LastIndexOf(breakAt.AsSpan());
                if (at >= floor)
                {
                    return at + breakAt.Length;
                }
            }

            return char.IsHighSurrogate(span[^1]) ? chunkChars - 1 : chunkChars;
        }

        private async Task WriteChunkAsync(ReadOnlyMemory<char> text, CancellationToken ct)
        {
            var buffer = new ArrayBufferWriter<byte>(text.Length + 16);
            using (var json = new Utf8JsonWriter(buffer, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteString("text"u8, text.Span);
                json.WriteEndObject();
            }

            buffer.Write("\n"u8);
            await output.WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
        }
    }
}
