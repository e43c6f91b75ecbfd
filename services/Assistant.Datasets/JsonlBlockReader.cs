using System.Buffers;

namespace Assistant.Datasets;

/// <summary>
/// Whole lines of a JSONL stream, handed out in blocks of about <c>blockBytes</c> so that workers can parse them in
/// parallel; or, for a line over the cap, a marker (<see cref="TooLongLine"/>) and nothing of the line. The buffer is
/// rented; dispose the block to return it.
/// </summary>
internal sealed class LineBlock : IDisposable
{
    private byte[]? buffer;

    public LineBlock(byte[] buffer, int start, int length, long firstLine)
    {
        this.buffer = buffer;
        Start = start;
        Length = length;
        FirstLine = firstLine;
    }

    private LineBlock(long tooLongLine) => TooLongLine = FirstLine = tooLongLine;

    public int Start { get; }

    public int Length { get; }

    /// <summary>The 1-based number of the block's first line.</summary>
    public long FirstLine { get; }

    /// <summary>When non-zero, the block stands for this one line, longer than the cap and skipped.</summary>
    public long TooLongLine { get; }

    /// <summary>The lines, each ending with '\n' except perhaps the last line of the file.</summary>
    public ReadOnlySpan<byte> Bytes => buffer is null ? default : buffer.AsSpan(Start, Length);

    public static LineBlock ForTooLongLine(long line) => new(line);

    /// <summary>The block's non-blank lines with their numbers (<c>foreach (var line in block)</c>); blank lines are allowed in JSONL and skipped.</summary>
    public NonBlankLines GetEnumerator() => new(Bytes, FirstLine);

    public void Dispose()
    {
        if (buffer is { } b)
        {
            buffer = null;
            LineBuffers.Release(b);
        }
    }
}

/// <summary>One line of a block without its '\n', and its 1-based number in the file.</summary>
internal readonly ref struct NumberedLine(long number, ReadOnlySpan<byte> bytes)
{
    public long Number { get; } = number;
    public ReadOnlySpan<byte> Bytes { get; } = bytes;
}

/// <summary>Walks a block line by line without copying, counting blank lines but not yielding them.</summary>
internal ref struct NonBlankLines(ReadOnlySpan<byte> rest, long firstLine)
{
    private ReadOnlySpan<byte> rest = rest;
    private long next = firstLine;

    public NumberedLine Current { get; private set; }

    public bool MoveNext()
    {
        while (!rest.IsEmpty)
        {
            var newline = rest.IndexOf((byte)'\n');
            var bytes = newline >= 0 ? rest[..newline] : rest;
            rest = newline >= 0 ? rest[(newline + 1)..] : default;
            var number = next++;
            if (bytes.IndexOfAnyExcept(" \t\r"u8) >= 0)
            {
                Current = new NumberedLine(number, bytes);
                return true;
            }
        }
        return false;
    }
}

/// <summary>
/// Buffers from the shared pool up to 4 MiB; longer lines get an array of their own size (the pool would round a
/// 32 MiB line up to a 64 MiB array and keep it).
/// </summary>
internal static class LineBuffers
{
    public const int PoolLimit = 4 << 20;

    public static byte[] Allocate(int size) =>
        size <= PoolLimit ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    public static void Release(byte[] buffer)
    {
        if (buffer.Length <= PoolLimit && buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// Reads a JSONL stream into <see cref="LineBlock"/>s with bounded memory: at most one line over the block size is
/// ever buffered, up to <c>maxLineBytes</c>; a longer line is skipped as it streams past. A UTF-8 byte order mark at
/// the start is dropped; a UTF-16 one stops reading (<see cref="IsUtf16"/>).
/// </summary>
internal sealed class JsonlBlockReader(Stream stream, int maxLineBytes, int blockBytes = JsonlBlockReader.DefaultBlockBytes)
{
    public const int DefaultBlockBytes = 1 << 20;

    private byte[] buffer = LineBuffers.Allocate(blockBytes);
    private int start;
    private int end;
    private long nextLine = 1;
    private bool eof;
    private bool skipping;
    private bool bomChecked;

    /// <summary>Bytes read from the stream so far.</summary>
    public long BytesRead { get; private set; }

    /// <summary>The stream starts with a UTF-16 byte order mark; nothing was read as lines.</summary>
    public bool IsUtf16 { get; private set; }

    /// <summary>The next block, or null at the end of the stream.</summary>
    public async ValueTask<LineBlock?> ReadAsync(CancellationToken ct)
    {
        while (true)
        {
            if (!eof && end < buffer.Length)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(end), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    eof = true;
                }

                end += read;
                BytesRead += read;
                continue;
            }

            if (!bomChecked && !CheckByteOrderMark())
            {
                return null;
            }

            if (skipping)
            {
                var newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    start += newline + 1;
                    skipping = false;
                    nextLine++;
                    continue;
                }

                start = end = 0;
                if (eof)
                {
                    return null;
                }

                continue;
            }

            var pending = buffer.AsSpan(start, end - start);
            var last = pending.LastIndexOf((byte)'\n');
            if (last >= 0)
            {
                return TakeLines(last + 1, pending[..(last + 1)].Count((byte)'\n'));
            }

            if (eof)
            {
                // The last line, without a line break (possibly truncated).
                return end > start ? TakeLines(end - start, 1) : null;
            }

            if (end - start > maxLineBytes)
            {
                var line = nextLine;
                skipping = true;
                start = end = 0;
                return LineBlock.ForTooLongLine(line);
            }

            Grow();
        }
    }

    // Hands [start, start + length) over to a block with the current buffer and moves the rest to a new one.
    private LineBlock TakeLines(int length, int lines)
    {
        var block = new LineBlock(buffer, start, length, nextLine);
        nextLine += lines;
        var tail = end - start - length;
        var next = eof && tail == 0 ? [] : LineBuffers.Allocate((int)Math.Max(blockBytes, Math.Min(tail + (long)blockBytes, maxLineBytes + 2L)));
        buffer.AsSpan(start + length, tail).CopyTo(next);
        buffer = next;
        start = 0;
        end = tail;
        return block;
    }

    // One partial line fills the buffer: make room for more of it, up to one byte over the cap.
    private void Grow()
    {
        var length = end - start;
        // Doubling within the pool's sizes; past them, straight to the cap (one big array rather than a trail of them).
        var size = start > 0 ? buffer.Length
            : buffer.Length * 2L <= LineBuffers.PoolLimit ? buffer.Length * 2
            : maxLineBytes + 2;
        var next = size == buffer.Length ? buffer : LineBuffers.Allocate(size);
        buffer.AsSpan(start, length).CopyTo(next);
        if (!ReferenceEquals(next, buffer))
        {
            LineBuffers.Release(buffer);
            buffer = next;
        }

        start = 0;
        end = length;
    }

    private bool CheckByteOrderMark()
    {
        bomChecked = true;
        var head = buffer.AsSpan(start, end - start);
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            start += 3;
        }
        else if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            IsUtf16 = true;
            return false;
        }

        return true;
    }
}
