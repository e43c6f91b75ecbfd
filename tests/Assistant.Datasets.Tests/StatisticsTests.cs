using Assistant.Tokenization;

namespace Assistant.Datasets.Tests;

public sealed class StatisticsTests
{
    private static Task<ValidationReport> Validate(ValidationOptions options, params string[] lines) =>
        DatasetValidator.ValidateAsync(CorpusTests.Stream(lines), options, TestContext.Current.CancellationToken);

    private static string Chat(string user, string assistant) => DatasetExample.Chat(ChatMessage.FromUser(user), ChatMessage.FromAssistant(assistant)).ToJsonLine();

    [Fact]
    public async Task Duplicates_are_equal_canonical_records_not_equal_bytes()
    {
        var report = await Validate(new ValidationOptions(),
            Chat("café", "ok"),
            """{"messages": [{"content": "caf\u00e9", "role": "user"}, {"content": "ok", "role": "assistant"}], "id": 2}""",
            Chat("cafe", "ok"),
            """{"messages":[{"role":"system","content":"café"},{"role":"assistant","content":"ok"}]}""",
            Chat("café", "ok"));

        Assert.True(report.IsValid);
        Assert.Equal(5, report.Statistics!.Examples);
        Assert.Equal(2, report.Statistics.Duplicates);
    }

    [Fact]
    public async Task Rejected_duplicates_name_the_first_line()
    {
        var report = await Validate(new ValidationOptions { RejectDuplicates = true, Format = DatasetFormat.Alpaca },
            """{"instruction":"I","output":"O"}""", """{"instruction":"J","output":"O"}""", """{"output":"O","input":"","instruction":"I"}""");

        var problem = Assert.Single(report.Problems);
        Assert.Equal((3L, DatasetProblemCodes.DuplicateExample), (problem.Line, problem.Code));
        Assert.Contains("line 1", problem.Message);
        Assert.Equal(1, report.Statistics!.Duplicates);
    }

    [Fact]
    public async Task Records_over_max_length_are_counted_and_rejected_only_when_asked()
    {
        string[] lines = ["""{"text":"a"}""", """{"text":"a b c d e"}""", """{"text":"a b c"}""", """{"text":"a b c d e f"}"""];

        var counted = await Validate(new ValidationOptions { MaxLength = 3 }, lines);
        var rejected = await Validate(new ValidationOptions { MaxLength = 3, RejectOverMaxLength = true }, lines);

        Assert.True(counted.IsValid);
        Assert.Equal(2, counted.Statistics!.OverMaxLength);
        Assert.Equal([2L, 4L], rejected.Problems.Select(p => p.Line));
        Assert.All(rejected.Problems, p => Assert.Equal(DatasetProblemCodes.TooLong, p.Code));
        Assert.Equal(2, rejected.Statistics!.OverMaxLength);
        Assert.Equal(0, (await Validate(new ValidationOptions(), lines)).Statistics!.OverMaxLength);
    }

    [Fact]
    public async Task Token_statistics_and_power_of_two_histogram()
    {
        // " b", " c", ... are single GPT-2 tokens: n letters separated by spaces are n tokens.
        string Letters(int n) => string.Join(' ', Enumerable.Range(0, n).Select(i => (char)('a' + i)));
        foreach (var n in new[] { 1, 2, 3, 4, 8, 9 })
        {
            Assert.Equal(n, Gpt2Tokenizer.Instance.Encode(Letters(n)).Count);
        }

        var report = await Validate(new ValidationOptions(), new[] { 1, 2, 3, 4, 8, 9, 3 }.Select(n => $$"""{"text":"{{Letters(n)}}"}""").ToArray());

        var stats = report.Statistics!;
        Assert.Equal((7L, 30L, 1L, 9L), (stats.Examples, stats.Tokens, stats.MinTokens, stats.MaxTokens));
        Assert.Equal(30.0 / 7, stats.MeanTokens, 12);
        Assert.Equal([new HistogramBucket(1, 2, 1), new HistogramBucket(2, 4, 3), new HistogramBucket(4, 8, 1), new HistogramBucket(8, 16, 2)], stats.TokenHistogram);
    }

    [Fact]
    public async Task Histogram_keeps_empty_ranges_between_filled_ones()
    {
        var report = await Validate(new ValidationOptions(), """{"text":"a"}""", $$"""{"text":"{{string.Join(' ', Enumerable.Repeat("a", 40))}}"}""");

        Assert.Equal([new HistogramBucket(1, 2, 1), new HistogramBucket(2, 4, 0), new HistogramBucket(4, 8, 0), new HistogramBucket(8, 16, 0),
            new HistogramBucket(16, 32, 0), new HistogramBucket(32, 64, 1)], report.Statistics!.TokenHistogram);
    }

    [Fact]
    public async Task Role_counts_cover_conversations_and_the_flat_conversation_formats()
    {
        var chat = await Validate(new ValidationOptions(),
            """{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"},{"role":"user","content":"Q"},{"role":"assistant","content":"A"}]}""",
            Chat("x", "y"));
        var flat = await Validate(new ValidationOptions(), """{"prompt":"P","completion":"C"}""", """{"prompt":"P2","completion":"C"}""");
        var text = await Validate(new ValidationOptions(), """{"text":"T"}""");

        Assert.Equal(new Dictionary<string, long> { ["system"] = 1, ["user"] = 3, ["assistant"] = 3 }, chat.Statistics!.RoleCounts);
        Assert.Equal(new Dictionary<string, long> { ["user"] = 2, ["assistant"] = 2 }, flat.Statistics!.RoleCounts);
        Assert.Empty(text.Statistics!.RoleCounts);
    }

    [Fact]
    public async Task The_format_comes_from_the_first_valid_line_and_others_are_mixed()
    {
        var report = await Validate(new ValidationOptions(),
            """{"messages":[{"role":"user","content":"no answer"}]}""",
            """{"prompt":"P","completion":"C"}""",
            Chat("Q", "A"),
            """{"prompt":"P2","completion":"C2"}""");

        Assert.Equal(DatasetFormat.PromptCompletion, report.Format);
        Assert.Equal([(1L, DatasetProblemCodes.ExampleMissingAssistantMessage), (3L, DatasetProblemCodes.MixedFormats)],
            report.Problems.Select(p => (p.Line, p.Code)));
        Assert.Equal(2, report.Statistics!.Examples);
    }

    [Fact]
    public async Task Problems_listed_are_capped_but_all_are_counted()
    {
        var lines = Enumerable.Range(0, 120).Select(i => i % 2 == 0 ? "[]" : """{"text":"ok"}""").ToArray();

        var report = await Validate(new ValidationOptions { MaxReportedProblems = 10 }, lines);

        Assert.Equal(60, report.ProblemCount);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 2L * i + 1), report.Problems.Select(p => p.Line));
        Assert.Equal(60, report.Statistics!.Examples);
        Assert.False(report.IsValid);
    }

    [Fact]
    public async Task A_file_with_no_valid_record_has_no_statistics()
    {
        var report = await Validate(new ValidationOptions(), "[]", "{}");

        Assert.Null(report.Statistics);
        Assert.Null(report.Format);
        Assert.Equal([DatasetProblemCodes.DataType, DatasetProblemCodes.UnknownFormat], report.Problems.Select(p => p.Code));
    }

    [Fact]
    public async Task Pii_is_counted_per_kind_and_per_record()
    {
        var report = await Validate(new ValidationOptions(),
            Chat("Mail me at jane.doe@example.com or call +1 (555) 123-4567", "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00."),
            Chat("Nothing personal here.", "Right."),
            """{"messages":[{"role":"user","content":"bob@mail.example.org"},{"role":"assistant","content":"noted"}]}""");

        Assert.Equal(new PiiFindings(2, 1, 1, 1, 2), report.Statistics!.Pii);
    }

    [Fact]
    public async Task Bytes_count_the_whole_stream_and_the_stream_is_read_to_its_end()
    {
        var stream = CorpusTests.Stream("""{"text":"a"}""", "", "[]");
        var length = stream.Length;

        var report = await DatasetValidator.ValidateAsync(stream, new ValidationOptions(), TestContext.Current.CancellationToken);

        Assert.Equal(length, report.Statistics!.Bytes);
        Assert.Equal(length, stream.Position);
    }

    [Fact]
    public async Task Validation_stops_when_cancelled()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            DatasetValidator.ValidateAsync(CorpusTests.Stream("""{"text":"a"}"""), new ValidationOptions(), cancelled.Token));
    }
}
