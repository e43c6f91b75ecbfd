using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Cli;

namespace Assistant.EndToEnd.Tests;

/// <summary>The <c>assistant</c> CLI against the running platform (in process, same code as the binary).</summary>
public sealed class CliTests(PlatformFixture fixture)
{
    [Fact]
    public async Task Status_lists_every_service_up_through_the_gateway()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var (exit, output, error) = await RunAsync("status", "--gateway", gateway.BaseAddress!.ToString(), "--api-key", fixture.Platform.Secrets.AdminApiKey);

        Assert.Equal(0, exit);
        Assert.Equal("", error);
        foreach (var part in new[] { "gateway", "training-api", "postgres", "redis", "s3", "trainer", "inference" })
        {
            Assert.Matches($"(?m)^  {part} +up", output);
        }
    }

    [Fact]
    public async Task Status_explains_an_unreachable_gateway_without_a_stack_trace()
    {
        var (exit, output, error) = await RunAsync("status", "--gateway", "http://127.0.0.1:9");

        Assert.Equal(1, exit);
        Assert.Equal("", output);
        Assert.Contains("Cannot reach the gateway at http://127.0.0.1:9/", error);
        Assert.DoesNotContain("   at ", error);
    }

    [Fact]
    public async Task Version_prints_the_informational_version()
    {
        var (exit, output, _) = await RunAsync("--version");

        Assert.Equal(0, exit);
        Assert.Matches(@"^\d+\.\d+\.\d+\+\w+", output.Trim());
    }

    [Fact]
    public async Task Help_names_the_status_verb()
    {
        var (exit, output, _) = await RunAsync("--help");

        Assert.Equal(0, exit);
        Assert.Contains("status", output);
        Assert.Contains("Usage:", output);
    }

    [Fact]
    public async Task Datasets_upload_show_examples_and_download_round_trip_through_the_gateway()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;
        var name = DatasetsApiTests.UniqueName("cli");
        var file = Path.Combine(Path.GetTempPath(), $"{name}.jsonl");
        var content = string.Join("\n", Enumerable.Range(0, 12).Select(i => DatasetsApiTests.Chat($"Q{i}?", $"A{i}."))) + "\n";
        await File.WriteAllTextAsync(file, content, TestContext.Current.CancellationToken);
        var downloaded = Path.Combine(Path.GetTempPath(), $"{name}-down.jsonl");
        try
        {
            var upload = await RunAsync("datasets", "upload", file, "--name", name, "--gateway", url, "--api-key", key);
            Assert.Equal(0, upload.Exit);
            Assert.StartsWith($"{name}@1 stored: 12 examples", upload.Output);

            var list = await RunAsync("datasets", "list", "--gateway", url, "--api-key", key);
            Assert.Matches($"(?m)^{name} +1 +12 +chat", list.Output);

            var show = await RunAsync("datasets", "show", name, "--gateway", url, "--api-key", key);
            Assert.Matches(@"(?m)^  v1 +upload +12 examples", show.Output);

            var examples = await RunAsync("datasets", "examples", $"{name}@1", "--offset", "10", "--gateway", url, "--api-key", key);
            Assert.Equal(2, examples.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.StartsWith("#10 {", examples.Output);

            var split = await RunAsync("datasets", "split", $"{name}@latest", "--ratios", "0.5,0.25,0.25", "--gateway", url, "--api-key", key);
            Assert.Matches("train 6, validation 3, test 3", split.Output);

            var download = await RunAsync("datasets", "download", $"{name}@1", "--out", downloaded, "--gateway", url, "--api-key", key);
            Assert.Equal(0, download.Exit);
            Assert.Equal(content, await File.ReadAllTextAsync(downloaded, TestContext.Current.CancellationToken));
        }
        finally
        {
            File.Delete(file);
            File.Delete(downloaded);
        }
    }

    [Fact]
    public async Task Datasets_upload_of_a_bad_file_lists_problems_by_line_and_stores_nothing()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;
        var name = DatasetsApiTests.UniqueName("clibad");
        var file = Path.Combine(Path.GetTempPath(), $"{name}.jsonl");
        await File.WriteAllTextAsync(file, DatasetsApiTests.Chat("ok?", "ok.") + "\n{\"messages\": [\n", TestContext.Current.CancellationToken);
        try
        {
            var upload = await RunAsync("datasets", "upload", file, "--name", name, "--gateway", url, "--api-key", key);

            Assert.Equal(1, upload.Exit);
            Assert.Contains("The dataset file is not valid", upload.Error);
            Assert.Matches("(?m)^  line 2: invalid_json: ", upload.Error);
            Assert.DoesNotContain("   at ", upload.Error);
            var show = await RunAsync("datasets", "show", name, "--gateway", url, "--api-key", key);
            Assert.Equal(1, show.Exit);
            Assert.Contains("was not found", show.Error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public async Task Datasets_upload_options_count_with_the_chosen_tokenizer_and_refuse_repeats_or_over_long_examples_when_asked()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;
        var name = DatasetsApiTests.UniqueName("cliopt");
        var file = Path.Combine(Path.GetTempPath(), $"{name}.jsonl");
        var repeated = DatasetsApiTests.Chat("Is it dimmable?", "Yes, from the app.");
        await File.WriteAllTextAsync(file, string.Join("\n", repeated, DatasetsApiTests.Chat("Hi", "Hello!"), repeated) + "\n", TestContext.Current.CancellationToken);
        try
        {
            var refused = await RunAsync("datasets", "upload", file, "--name", name, "--reject-duplicates", "--gateway", url, "--api-key", key);
            Assert.Equal(1, refused.Exit);
            Assert.Matches("(?m)^  line 3: ", refused.Error);

            var tooLong = await RunAsync("datasets", "upload", file, "--name", name, "--tokenizer", "bytes", "--max-length", "5", "--reject-over-max-length", "--gateway", url, "--api-key", key);
            Assert.Equal(1, tooLong.Exit);
            Assert.Contains("the maximum is 5", tooLong.Error);

            var badTokenizer = await RunAsync("datasets", "upload", file, "--name", name, "--tokenizer", "nosuch", "--gateway", url, "--api-key", key);
            Assert.Equal(1, badTokenizer.Exit);
            Assert.Contains("tokenizer", badTokenizer.Error);

            var stored = await RunAsync("datasets", "upload", file, "--name", name, "--tokenizer", "bytes", "--max-length", "5", "--gateway", url, "--api-key", key);
            Assert.Equal(0, stored.Exit);
            using var version = await gateway.GetFromJsonAsync<JsonDocument>($"/api/datasets/{name}/versions/1", TestContext.Current.CancellationToken);
            Assert.Equal("bytes", version!.RootElement.GetProperty("tokenizer").GetString());
            Assert.Equal(3, version.RootElement.GetProperty("statistics").GetProperty("over_max_length").GetInt64());
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Runs the CLI in process, as the binary would, capturing what it prints.</summary>
    internal static async Task<(int Exit, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CliApp.RunAsync(args, output, error, TestContext.Current.CancellationToken);
        return (exit, output.ToString(), error.ToString());
    }
}
