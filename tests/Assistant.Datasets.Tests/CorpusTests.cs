using System.Text.Json;
using System.Text.Json.Serialization;
using Assistant.Tokenization;

namespace Assistant.Datasets.Tests;

/// <summary>The committed corpus: every bad file rejected with its one problem, every good file accepted with its counts.</summary>
public sealed class CorpusTests
{
    private static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public static TheoryData<string> BadFiles() => [.. Manifest<BadEntry>("bad").Select(e => e.File)];

    public static TheoryData<string> GoodFiles() => [.. Manifest<GoodEntry>("good").Select(e => e.File)];

    [Fact]
    public void The_bad_corpus_covers_every_line_level_code_and_at_least_thirty_files()
    {
        var entries = Manifest<BadEntry>("bad");
        Assert.True(entries.Count >= 30, $"{entries.Count} bad files");
        var codes = entries.Select(e => e.Code).ToHashSet();
        string[] expected =
        [
            DatasetProblemCodes.DataType, DatasetProblemCodes.MissingMessagesList, DatasetProblemCodes.MessageMissingKey,
            DatasetProblemCodes.MessageUnrecognizedKey, DatasetProblemCodes.UnrecognizedRole, DatasetProblemCodes.MissingContent,
            DatasetProblemCodes.ExampleMissingAssistantMessage, DatasetProblemCodes.InvalidJson, DatasetProblemCodes.InvalidUtf8,
            DatasetProblemCodes.EmptyFile, DatasetProblemCodes.MixedFormats, DatasetProblemCodes.TooLong, DatasetProblemCodes.DuplicateExample,
            DatasetProblemCodes.MissingField, DatasetProblemCodes.EmptyField, DatasetProblemCodes.UnknownFormat, DatasetProblemCodes.LineTooLong,
        ];
        Assert.Empty(expected.Except(codes));
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_bad_file_is_rejected_with_its_code_line_and_param(string file)
    {
        var entry = Manifest<BadEntry>("bad").Single(e => e.File == file);
        await using var stream = File.OpenRead(Path.Combine(CorpusRoot, file));

        var report = await DatasetValidator.ValidateAsync(stream, entry.Options ?? new ValidationOptions(), TestContext.Current.CancellationToken);

        Assert.False(report.IsValid);
        var problem = Assert.Single(report.Problems);
        Assert.Equal(1, report.ProblemCount);
        Assert.Equal((entry.Code, entry.Line, entry.Param), (problem.Code, problem.Line, problem.Param));
        Assert.False(string.IsNullOrWhiteSpace(problem.Message));
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_bad_file_gives_the_same_verdict_on_one_thread_as_on_several(string file)
    {
        var entry = Manifest<BadEntry>("bad").Single(e => e.File == file);
        var bytes = await File.ReadAllBytesAsync(Path.Combine(CorpusRoot, file), TestContext.Current.CancellationToken);
        var options = entry.Options ?? new ValidationOptions();

        var serial = await DatasetValidator.ValidateAsync(new MemoryStream(bytes), options with { MaxDegreeOfParallelism = 1 }, TestContext.Current.CancellationToken);
        var parallel = await DatasetValidator.ValidateAsync(new MemoryStream(bytes), options with { MaxDegreeOfParallelism = 4 }, TestContext.Current.CancellationToken);

        Assert.Equal(serial.Problems, parallel.Problems);
        Assert.Equal(serial.Statistics?.Tokens, parallel.Statistics?.Tokens);
    }

    [Theory]
    [MemberData(nameof(GoodFiles))]
    public async Task A_good_file_is_accepted_with_its_counts_and_gpt2_token_counts(string file)
    {
        var entry = Manifest<GoodEntry>("good").Single(e => e.File == file);
        var path = Path.Combine(CorpusRoot, file);
        await using var stream = File.OpenRead(path);

        var report = await DatasetValidator.ValidateAsync(stream, new ValidationOptions(), TestContext.Current.CancellationToken);

        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(entry.Format, report.Format);
        var stats = report.Statistics!;
        Assert.Equal(entry.Examples, stats.Examples);
        Assert.Equal(entry.Duplicates, stats.Duplicates);
        Assert.Equal(entry.Roles.OrderBy(r => r.Key), stats.RoleCounts.OrderBy(r => r.Key));
        Assert.Equal(new FileInfo(path).Length, stats.Bytes);

        var expected = ReferenceTokenCounts(path, entry.Format);
        Assert.Equal(expected.Sum(), stats.Tokens);
        Assert.Equal(expected.Min(), stats.MinTokens);
        Assert.Equal(expected.Max(), stats.MaxTokens);
        Assert.Equal((double)expected.Sum() / expected.Count, stats.MeanTokens, 9);
        Assert.Equal(expected.Count, stats.TokenHistogram.Sum(b => b.Count));
    }

    [Fact]
    public async Task Hello_world_is_two_gpt2_tokens()
    {
        var report = await DatasetValidator.ValidateAsync(Stream("""{"text": "Hello world"}"""), new ValidationOptions(), TestContext.Current.CancellationToken);

        Assert.Equal(2, report.Statistics!.Tokens);
        Assert.Equal([new HistogramBucket(2, 4, 1)], report.Statistics.TokenHistogram);
    }

    // Independent of the library: JsonDocument for the fields, Gpt2Tokenizer.Encode for the counts.
    private static List<long> ReferenceTokenCounts(string path, DatasetFormat format)
    {
        long Count(JsonElement e) => e.ValueKind == JsonValueKind.String ? Gpt2Tokenizer.Instance.Encode(e.GetString()!).Count : 0;
        string[] fields = format switch
        {
            DatasetFormat.ContextResponse => ["context", "response"],
            DatasetFormat.PromptCompletion => ["prompt", "completion"],
            DatasetFormat.Alpaca => ["instruction", "input", "output"],
            DatasetFormat.Text => ["text"],
            _ => [],
        };
        var counts = new List<long>();
        foreach (var line in File.ReadAllLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line.TrimStart('\uFEFF'));
            var root = doc.RootElement;
            counts.Add(format == DatasetFormat.Chat
                ? root.GetProperty("messages").EnumerateArray().Sum(m => Count(m.GetProperty("content")))
                : fields.Sum(f => root.TryGetProperty(f, out var v) ? Count(v) : 0));
        }

        return counts;
    }

    internal static MemoryStream Stream(params string[] lines) => new(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", lines) + "\n"));

    private static string CorpusRoot => Path.Combine(AppContext.BaseDirectory, "Corpus");

    private static List<T> Manifest<T>(string folder) =>
        JsonSerializer.Deserialize<List<T>>(File.ReadAllText(Path.Combine(CorpusRoot, folder, "manifest.json")), ManifestJson)!;

    private sealed record BadEntry(string File, string Code, long Line, string? Param, ValidationOptions? Options, string? Note);

    private sealed record GoodEntry(string File, DatasetFormat Format, long Examples, Dictionary<string, long> Roles, long Duplicates, string? Note);
}
