using System.Runtime.CompilerServices;

namespace Assistant.Datasets;

/// <summary>
/// Streams the records of a JSONL dataset with bounded memory (one block of lines at a time), for preview, search,
/// splits and labelling. Blank lines are skipped; each record is parsed on its own (no format is imposed).
/// </summary>
public static class DatasetReader
{
    /// <summary>The records of <paramref name="jsonl"/> with their 1-based lines.</summary>
    /// <exception cref="DatasetFormatException">A line is not a valid record (its <see cref="DatasetFormatException.Line"/> says which).</exception>
    public static IAsyncEnumerable<(long Line, DatasetExample Example)> ReadAsync(Stream jsonl, CancellationToken ct = default) =>
        ReadAsync(jsonl, skipInvalid: false, ct);

    /// <summary>The records of <paramref name="jsonl"/>; with <paramref name="skipInvalid"/> lines that are not valid records are passed over instead of throwing.</summary>
    public static async IAsyncEnumerable<(long Line, DatasetExample Example)> ReadAsync(Stream jsonl, bool skipInvalid,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(jsonl);
        var reader = new JsonlBlockReader(jsonl, ValidationOptions.DefaultMaxLineBytes);
        var records = new List<(long, DatasetExample)>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false) is { } block)
        {
            records.Clear();
            using (block)
            {
                Parse(block, skipInvalid, records);
            }

            foreach (var record in records)
            {
                yield return record;
            }
        }

        if (reader.IsUtf16 && !skipInvalid)
        {
            throw new DatasetFormatException(DatasetProblemCodes.InvalidUtf8, "the file is UTF-16; save it as UTF-8");
        }
    }

    private static void Parse(LineBlock block, bool skipInvalid, List<(long, DatasetExample)> records)
    {
        if (block.TooLongLine > 0)
        {
            if (!skipInvalid)
            {
                throw new DatasetFormatException(DatasetProblemCodes.LineTooLong, "the line is too long", line: block.TooLongLine);
            }

            return;
        }

        foreach (var line in block)
        {
            var parsed = ExampleParser.Parse(line.Bytes, expected: null);
            if (parsed.Example is { } example)
            {
                records.Add((line.Number, example));
            }
            else if (!skipInvalid)
            {
                throw new DatasetFormatException(parsed.Code!, parsed.Message!, parsed.Param, line.Number);
            }
        }
    }
}
