using System.Text;
using Assistant.Tokenization;

namespace Assistant.Datasets.Tests;

public sealed class DatasetReaderTests
{
    [Fact]
    public async Task Records_come_with_their_lines_past_bom_crlf_and_blank_lines()
    {
        var bytes = Encoding.UTF8.GetBytes("\uFEFF{\"text\":\"a\"}\r\n\r\n  \r\n{\"prompt\":\"P\",\"completion\":\"C\"}\r\n{\"text\":\"last\"}");

        var records = await Read(new MemoryStream(bytes));

        Assert.Equal([1L, 4L, 5L], records.Select(r => r.Line));
        Assert.Equal([DatasetFormat.Text, DatasetFormat.PromptCompletion, DatasetFormat.Text], records.Select(r => r.Example.Format));
        Assert.Equal("last", records[^1].Example.Text);
    }

    [Fact]
    public async Task Line_numbers_stay_right_across_many_blocks()
    {
        var lines = Enumerable.Range(1, 40_000).Select(i => DatasetExample.Chat(ChatMessage.FromUser($"question {i} " + new string('q', i % 50)), ChatMessage.FromAssistant($"answer {i}")).ToJsonLine());
        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");
        Assert.True(bytes.Length > 3 * JsonlBlockReader.DefaultBlockBytes);

        var records = await Read(new ForwardOnlyStream(bytes));

        Assert.Equal(40_000, records.Count);
        Assert.All(records, r => Assert.Equal($"answer {r.Line}", r.Example.AssistantAnswer));
    }

    [Fact]
    public async Task A_bad_line_throws_with_its_line_unless_skipped()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":5}\n{\"text\":\"d\"}\n");

        var error = await Assert.ThrowsAsync<DatasetFormatException>(() => Read(new MemoryStream(bytes)));
        var skipped = new List<long>();
        await foreach (var (line, _) in DatasetReader.ReadAsync(new MemoryStream(bytes), skipInvalid: true, TestContext.Current.CancellationToken))
        {
            skipped.Add(line);
        }

        Assert.Equal((3L, DatasetProblemCodes.DataType, "text"), (error.Line, error.Code, error.Param));
        Assert.StartsWith("line 3: ", error.Message);
        Assert.Equal([1L, 2L, 4L], skipped);
    }

    [Fact]
    public async Task Reading_can_stop_early()
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 1000).Select(i => $"{{\"text\":\"{i}\"}}\n")));
        var first = new List<string>();
        await foreach (var (_, example) in DatasetReader.ReadAsync(new MemoryStream(bytes), TestContext.Current.CancellationToken))
        {
            first.Add(example.Text!);
            if (first.Count == 3)
            {
                break;
            }
        }

        Assert.Equal(["0", "1", "2"], first);
    }

    private static async Task<List<(long Line, DatasetExample Example)>> Read(Stream stream)
    {
        var records = new List<(long, DatasetExample)>();
        await foreach (var record in DatasetReader.ReadAsync(stream, TestContext.Current.CancellationToken))
        {
            records.Add(record);
        }

        return records;
    }
}
