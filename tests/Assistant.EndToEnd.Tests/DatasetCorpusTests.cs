using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// Every malformed file of the validator's corpus, uploaded through the gateway: rejected with its code,
/// line and field as problem details, never a 5xx, and no dataset or version left behind.
/// </summary>
public sealed class DatasetCorpusTests(PlatformFixture fixture)
{
    private static readonly string CorpusRoot = Path.Combine(AppContext.BaseDirectory, "Corpus");

    public sealed record Entry(string File, string Code, long Line, string? Param, JsonElement? Options);

    private static List<Entry> Manifest() =>
        JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(Path.Combine(CorpusRoot, "bad", "manifest.json")), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;

    /// <summary>Validator options the upload API exposes, by their API field names.</summary>
    private static readonly Dictionary<string, string> ApiFields = new()
    {
        ["format"] = "format",
        ["maxLength"] = "max_length",
        ["rejectDuplicates"] = "reject_duplicates",
        ["rejectOverMaxLength"] = "reject_over_max_length",
    };

    public static TheoryData<string> BadFiles() =>
        [.. Manifest().Where(e => e.Options is null || e.Options.Value.EnumerateObject().All(o => ApiFields.ContainsKey(o.Name))).Select(e => e.File)];

    [Fact]
    public void The_corpus_covers_at_least_thirty_malformed_files_through_the_api() => Assert.True(BadFiles().Count >= 30);

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_malformed_file_is_rejected_with_its_code_and_line_and_nothing_is_stored(string file)
    {
        var ct = TestContext.Current.CancellationToken;
        var entry = Manifest().Single(e => e.File == file);
        var name = DatasetsApiTests.UniqueName("bad");
        using var form = new MultipartFormDataContent { { new StringContent(name), "name" } };
        foreach (var option in entry.Options?.EnumerateObject() ?? Enumerable.Empty<JsonProperty>())
        {
            var value = option.Value.ValueKind switch
            {
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.String => JsonNamingPolicy.SnakeCaseLower.ConvertName(option.Value.GetString()!),
                _ => option.Value.GetRawText(),
            };
            form.Add(new StringContent(value), ApiFields[option.Name]);
        }
        var bytes = new ByteArrayContent(await File.ReadAllBytesAsync(Path.Combine(CorpusRoot, file), ct));
        bytes.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(bytes, "file", Path.GetFileName(file));
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var response = await gateway.PostAsync("/api/datasets", form, ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = await response.Content.ReadFromJsonAsync<JsonDocument>(ct);
        var error = problem!.RootElement.GetProperty("errors")[0];
        Assert.Equal((entry.Code, entry.Line, entry.Param),
            (error.GetProperty("code").GetString(), error.GetProperty("line").GetInt64(),
             error.GetProperty("param").ValueKind == JsonValueKind.Null ? null : error.GetProperty("param").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.GetAsync($"/api/datasets/{name}", ct)).StatusCode);
    }
}
