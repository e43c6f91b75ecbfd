using System.Diagnostics;
using System.Text;

namespace Assistant.Datasets.Tests;

/// <summary>Memory bounds on big inputs; run alone so that other tests' allocations do not blur the figures.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class MemoryMeasuredCollection;

[Collection(nameof(MemoryMeasuredCollection))]
public sealed class LargeFileTests
{
    private const long FileBytes = 200_000_000;
    private const long MaxRssGrowth = 300_000_000;
    private const long MaxManagedHeap = 300_000_000;

    [Fact]
    public async Task A_200_MB_file_is_validated_with_bounded_memory()
    {
        var path = Path.Combine(Path.GetTempPath(), $"datasets-large-{Guid.NewGuid():N}.jsonl");
        try
        {
            var records = WriteChatFile(path, FileBytes);
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);

            var allocated = GC.GetTotalAllocatedBytes(true);
            var gen2 = GC.CollectionCount(2);
            var (report, rssGrowth, managedPeak) = await Measure(() =>
                DatasetValidator.ValidateAsync(stream, new ValidationOptions { MaxLength = 64 }, TestContext.Current.CancellationToken));

            allocated = GC.GetTotalAllocatedBytes(true) - allocated;
            TestContext.Current.TestOutputHelper?.WriteLine($"200 MB: resident +{rssGrowth / 1e6:F0} MB, managed peak {managedPeak / 1e6:F0} MB, allocated {allocated / 1e6:F0} MB");
            Assert.True(report.IsValid, string.Join("; ", report.Problems));
            var stats = report.Statistics!;
            Assert.Equal((records, 0L, new FileInfo(path).Length), (stats.Examples, stats.Duplicates, stats.Bytes));
            Assert.Equal(records, stats.RoleCounts["assistant"]);
            Assert.InRange(stats.MinTokens, 20, 64);
            Assert.True(stats.OverMaxLength > 0 && stats.OverMaxLength < records);
            Assert.True(rssGrowth < MaxRssGrowth, $"resident memory grew by {rssGrowth / 1e6:F0} MB, managed {managedPeak / 1e6:F0} MB, allocated {allocated / 1e6:F0} MB, gen2 {GC.CollectionCount(2) - gen2}");
            Assert.True(managedPeak < MaxManagedHeap, $"managed heap reached {managedPeak / 1e6:F0} MB");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_line_over_the_32_MiB_cap_is_skipped_without_being_held()
    {
        var head = Encoding.UTF8.GetBytes("{\"text\":\"before\"}\n{\"text\":\"");
        var tail = Encoding.UTF8.GetBytes("\"}\n{\"text\":\"after\"}\n");
        var stream = new GeneratedStream(head, (byte)'x', 40L << 20, tail);

        var (report, rssGrowth, _) = await Measure(() => DatasetValidator.ValidateAsync(stream, new ValidationOptions(), TestContext.Current.CancellationToken));

        TestContext.Current.TestOutputHelper?.WriteLine($"40 MiB line: resident +{rssGrowth / 1e6:F0} MB");
        var problem = Assert.Single(report.Problems);
        Assert.Equal((2L, DatasetProblemCodes.LineTooLong), (problem.Line, problem.Code));
        Assert.Equal(2, report.Statistics!.Examples);
        Assert.Equal(stream.Length, report.Statistics.Bytes);
        Assert.True(rssGrowth < 120_000_000, $"resident memory grew by {rssGrowth / 1e6:F0} MB for a 40 MiB line");
    }

    // Distinct records: a question and a multi-sentence answer built from a few templates and the record number.
    private static long WriteChatFile(string path, long bytes)
    {
        string[] sentences =
        [
            "The quick brown fox jumps over the lazy dog.", "Training data should be clean and varied.",
            "Ответ должен быть коротким и точным.", "Tokenizers split text into pieces before merging bytes.",
            "Validation reports the first problems in line order.", "Call 555-123-4567 for more.",
        ];
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        long written = 0;
        long records = 0;
        var line = new StringBuilder();
        while (written < bytes)
        {
            records++;
            line.Clear().Append("{\"messages\":[{\"role\":\"user\",\"content\":\"Question ").Append(records).Append(": ")
                .Append(sentences[records % 6]).Append("\"},{\"role\":\"assistant\",\"content\":\"");
            for (var s = 0; s < 3 + records % 9; s++)
            {
                line.Append(sentences[(records + s) % 6]).Append(' ');
            }

            line.Append("Record ").Append(records).Append(".\"}]}");
            writer.WriteLine(line);
            written += line.Length + 1 + 20; // about: the Cyrillic sentence takes more bytes than chars
        }

        return records;
    }

    // Samples resident and managed memory (live or not yet collected) every 10 ms while the work runs, after a warm-up
    // that loads the GPT-2 tables, so that one-off start-up allocations are not counted.
    private static async Task<(T Result, long RssGrowth, long ManagedPeak)> Measure<T>(Func<Task<T>> work)
    {
        await DatasetValidator.ValidateAsync(CorpusTests.Stream("""{"text":"warm up the tokenizer"}"""), new ValidationOptions(), CancellationToken.None);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baseline = process.WorkingSet64;
        long rssPeak = baseline, managedPeak = 0;
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                process.Refresh();
                rssPeak = Math.Max(rssPeak, process.WorkingSet64);
                managedPeak = Math.Max(managedPeak, GC.GetTotalMemory(false));
                await Task.Delay(10, CancellationToken.None);
            }
        }, CancellationToken.None);
        var result = await work();
        await done.CancelAsync();
        await sampler;
        return (result, rssPeak - baseline, managedPeak);
    }
}

/// <summary>head, then <c>count</c> copies of one byte, then tail, made up as it is read.</summary>
internal sealed class GeneratedStream(byte[] head, byte fill, long count, byte[] tail) : Stream
{
    private long position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => head.Length + count + tail.Length;
    public override long Position { get => position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int length)
    {
        var n = 0;
        while (n < length && position < Length)
        {
            buffer[offset + n++] = position < head.Length ? head[position]
                : position < head.Length + count ? fill
                : tail[position - head.Length - count];
            position++;
        }

        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
