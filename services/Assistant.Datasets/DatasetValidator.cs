using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using static Assistant.Datasets.DatasetProblemCodes;

namespace Assistant.Datasets;

/// <summary>
/// Checks a JSONL dataset line by line and gathers its statistics in one streaming pass with bounded memory.
/// </summary>
/// <remarks>
/// A reader cuts the stream into blocks of whole lines (~1 MiB); up to one block per core is parsed, tokenized, hashed
/// and scanned for PII at a time; the per-line outcomes are folded in line order, so the format, the problems listed
/// and which of two equal records is the duplicate do not depend on thread timing. Memory: the blocks in flight, one
/// line up to <see cref="ValidationOptions.MaxLineBytes"/>, a token cache per worker, and 8-byte content hashes of
/// the records (about 30 bytes per distinct record) to find duplicates.
/// </remarks>
public static class DatasetValidator
{
    /// <summary>Validates <paramref name="jsonl"/> (read to its end, not disposed) and reports its problems and statistics.</summary>
    public static async Task<ValidationReport> ValidateAsync(Stream jsonl, ValidationOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(jsonl);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.MaxLineBytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxLineBytes, 1 << 30);
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxReportedProblems);

        var reader = new JsonlBlockReader(jsonl, options.MaxLineBytes);
        var report = new ReportBuilder(options);
        var measurers = new ConcurrentBag<ExampleMeasurer>();
        var degree = Math.Max(1, options.MaxDegreeOfParallelism ?? Environment.ProcessorCount);
        if (degree == 1)
        {
            while (await reader.ReadAsync(ct).ConfigureAwait(false) is { } block)
            {
                report.Add(ProcessBlock(block, options, measurers));
            }
        }
        else
        {
            await RunParallelAsync(reader, report, options, measurers, degree, ct).ConfigureAwait(false);
        }

        return report.Build(reader.BytesRead, reader.IsUtf16);
    }

    // Blocks start processing as they are read, at most `degree` waiting in the channel; the results are taken in order.
    private static async Task RunParallelAsync(JsonlBlockReader reader, ReportBuilder report, ValidationOptions options,
        ConcurrentBag<ExampleMeasurer> measurers, int degree, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pending = Channel.CreateBounded<Task<BlockResult>>(new BoundedChannelOptions(degree) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(async () =>
        {
            try
            {
                while (await pending.Writer.WaitToWriteAsync(stop.Token).ConfigureAwait(false)
                       && await reader.ReadAsync(stop.Token).ConfigureAwait(false) is { } block)
                {
                    pending.Writer.TryWrite(Task.Run(() => ProcessBlock(block, options, measurers), stop.Token));
                }

                pending.Writer.TryComplete();
            }
            catch (Exception e)
            {
                pending.Writer.TryComplete(e);
            }
        }, stop.Token);

        try
        {
            await foreach (var result in pending.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
            {
                report.Add(await result.ConfigureAwait(false));
            }
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            await producer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static BlockResult ProcessBlock(LineBlock block, ValidationOptions options, ConcurrentBag<ExampleMeasurer> measurers)
    {
        using (block)
        {
            if (block.TooLongLine > 0)
            {
                var tooLong = new BlockResult(1) { NonBlankLines = 1 };
                tooLong.Add(TooLong(block.TooLongLine, options.MaxLineBytes));
                return tooLong;
            }

            var result = new BlockResult(block.Bytes.Count((byte)'\n') + 1);
            var measurer = measurers.TryTake(out var m) ? m : new ExampleMeasurer(options);
            try
            {
                foreach (var line in block)
                {
                    result.NonBlankLines++;
                    if (line.Bytes.Length > options.MaxLineBytes)
                    {
                        result.Add(TooLong(line.Number, options.MaxLineBytes));
                        continue;
                    }

                    result.Add(measurer.Check(line.Number, line.Bytes));
                }
            }
            finally
            {
                measurers.Add(measurer);
            }

            return result;
        }
    }

    private static LineOutcome TooLong(long line, int maxLineBytes) =>
        LineOutcome.Problem(line, LineTooLong, $"the line is longer than {maxLineBytes:N0} bytes; it was skipped");
}

/// <summary>The outcomes of one block's lines, in order, in a pooled array (<see cref="Release"/> after use).</summary>
internal sealed class BlockResult(int capacity)
{
    private LineOutcome[] outcomes = ArrayPool<LineOutcome>.Shared.Rent(Math.Max(1, capacity));

    public int Count { get; private set; }

    public long NonBlankLines { get; set; }

    public ReadOnlySpan<LineOutcome> Outcomes => outcomes.AsSpan(0, Count);

    public void Add(in LineOutcome outcome) => outcomes[Count++] = outcome;

    public void Release()
    {
        ArrayPool<LineOutcome>.Shared.Return(outcomes, clearArray: true); // outcomes hold problem strings
        outcomes = [];
        Count = 0;
    }
}

/// <summary>Folds line outcomes, in line order, into the report.</summary>
internal sealed class ReportBuilder(ValidationOptions options)
{
    private readonly List<DatasetProblem> problems = [];
    private readonly long[] histogram = new long[65];
    private readonly Dictionary<ulong, long> firstLineByHash = [];
    private DatasetFormat? format = options.Format;
    private long formatLine;
    private long problemCount;
    private long nonBlankLines;
    private long examples;
    private long tokens;
    private long minTokens = long.MaxValue;
    private long maxTokens;
    private long overMaxLength;
    private long duplicates;
    private long system;
    private long user;
    private long assistant;
    private PiiCounts pii;
    private long examplesWithPii;

    public void Add(BlockResult block)
    {
        nonBlankLines += block.NonBlankLines;
        foreach (ref readonly var outcome in block.Outcomes)
        {
            Add(outcome);
        }

        block.Release();
    }

    public ValidationReport Build(long bytes, bool utf16)
    {
        if (utf16)
        {
            AddProblem(0, InvalidUtf8, "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8", null);
        }
        else if (nonBlankLines == 0)
        {
            AddProblem(0, EmptyFile, "the file holds no records", null);
        }

        DatasetStatistics? statistics = null;
        if (examples > 0)
        {
            var buckets = new List<HistogramBucket>();
            var low = Array.FindIndex(histogram, c => c > 0);
            var high = Array.FindLastIndex(histogram, c => c > 0);
            for (var b = low; b <= high; b++)
            {
                buckets.Add(b == 0 ? new HistogramBucket(0, 1, histogram[0]) : new HistogramBucket(1L << (b - 1), 1L << b, histogram[b]));
            }

            var roles = new Dictionary<string, long>();
            foreach (var (role, count) in new[] { ("system", system), ("user", user), ("assistant", assistant) })
            {
                if (count > 0)
                {
                    roles[role] = count;
                }
            }

            statistics = new DatasetStatistics(examples, tokens, minTokens, maxTokens, (double)tokens / examples, buckets,
                overMaxLength, roles, duplicates, new PiiFindings(pii.Emails, pii.Phones, pii.Cards, pii.Ibans, examplesWithPii), bytes);
        }

        return new ValidationReport(format, problemCount == 0, problemCount, problems, statistics);
    }

    private void Add(in LineOutcome outcome)
    {
        if (outcome.Code is { } code)
        {
            AddProblem(outcome.Line, code, outcome.Message!, outcome.Param);
            return;
        }

        if (format is null)
        {
            format = outcome.Format;
            formatLine = outcome.Line;
        }
        else if (outcome.Format != format)
        {
            var source = formatLine > 0 ? $" (from line {formatLine})" : string.Empty;
            AddProblem(outcome.Line, MixedFormats, $"the record is {outcome.Format.ToJsonName()}; the dataset is {format.Value.ToJsonName()}{source}", null);
            return;
        }

        examples++;
        tokens += outcome.Tokens;
        minTokens = Math.Min(minTokens, outcome.Tokens);
        maxTokens = Math.Max(maxTokens, outcome.Tokens);
        histogram[outcome.Tokens == 0 ? 0 : 64 - long.LeadingZeroCount(outcome.Tokens)]++;
        system += outcome.System;
        user += outcome.User;
        assistant += outcome.Assistant;
        pii.Emails += outcome.Pii.Emails;
        pii.Phones += outcome.Pii.Phones;
        pii.Cards += outcome.Pii.Cards;
        pii.Ibans += outcome.Pii.Ibans;
        examplesWithPii += outcome.Pii.Any ? 1 : 0;

        var over = options.MaxLength is { } max && outcome.Tokens > max;
        overMaxLength += over ? 1 : 0;
        var duplicateOf = firstLineByHash.TryAdd(outcome.Hash, outcome.Line) ? 0 : firstLineByHash[outcome.Hash];
        duplicates += duplicateOf > 0 ? 1 : 0;
        if (over && options.RejectOverMaxLength)
        {
            AddProblem(outcome.Line, TooLong, $"the record has {outcome.Tokens:N0} tokens; the maximum is {options.MaxLength:N0}", null);
        }
        else if (duplicateOf > 0 && options.RejectDuplicates)
        {
            AddProblem(outcome.Line, DuplicateExample, $"the record is the same as line {duplicateOf}", null);
        }
    }

    private void AddProblem(long line, string code, string message, string? param)
    {
        problemCount++;
        if (problems.Count < options.MaxReportedProblems)
        {
            problems.Add(new DatasetProblem(line, code, message, param));
        }
    }
}
