using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Assistant.EndToEnd.Tests;

/// <summary>Dataset management through the gateway, on the platform's real Postgres and S3.</summary>
public sealed class DatasetsApiTests(PlatformFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    internal static string Chat(string user, string assistant) =>
        JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = user }, new { role = "assistant", content = assistant } } });

    internal static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    internal static async Task<HttpResponseMessage> UploadAsync(HttpClient gateway, string name, string fileName, string content, string? format = null)
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent(name), "name");
        if (format is not null)
        {
            form.Add(new StringContent(format), "format");
        }
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(content));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
        form.Add(file, "file", fileName);
        return await gateway.PostAsync("/api/datasets", form, Ct);
    }

    [Fact]
    public async Task A_valid_chat_file_becomes_version_1_with_statistics_and_an_identical_reupload_is_deduplicated()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("support");
        var content = string.Join("\n", Chat("How do I reset my password?", "Open Settings, then Security, then Reset."),
            Chat("Where is my invoice?", "Invoices are under Billing > History."), Chat("Where is my invoice?", "Invoices are under Billing > History.")) + "\n";

        using var first = await UploadAsync(gateway, name, "support.jsonl", content);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var created = await first.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        var version = created!.RootElement;
        Assert.Equal(1, version.GetProperty("version").GetInt32());
        Assert.Equal($"{name}@1", version.GetProperty("ref").GetString());
        Assert.Equal("chat", version.GetProperty("format").GetString());
        Assert.Equal(3, version.GetProperty("examples").GetInt64());
        Assert.True(version.GetProperty("tokens").GetInt64() > 20);
        var statistics = version.GetProperty("statistics");
        Assert.Equal(1, statistics.GetProperty("duplicates").GetInt64());
        Assert.Equal(3, statistics.GetProperty("role_counts").GetProperty("assistant").GetInt64());

        using var again = await UploadAsync(gateway, name, "support-copy.jsonl", content);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        using var deduplicated = await again.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.True(deduplicated!.RootElement.GetProperty("deduplicated").GetBoolean());
        Assert.Equal(1, deduplicated.RootElement.GetProperty("version").GetInt32());

        // Stored once: one blob row for those bytes, and a byte-identical download.
        await using (var db = await OpenDatabaseAsync())
        {
            await using var blobs = new NpgsqlCommand("SELECT count(*) FROM content_blobs WHERE sha256 = @sha", db);
            blobs.Parameters.AddWithValue("sha", version.GetProperty("sha256").GetString()!);
            Assert.Equal(1L, await blobs.ExecuteScalarAsync(Ct));
        }
        var downloaded = await gateway.GetStringAsync($"/api/datasets/{name}/versions/latest/download", Ct);
        Assert.Equal(content, downloaded);
    }

    [Fact]
    public async Task Labelling_edits_commit_a_new_version_whose_diff_names_what_changed()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("labels");
        var lines = Enumerable.Range(0, 5).Select(i => Chat($"Question {i}?", $"Answer {i}.")).ToList();
        (await UploadAsync(gateway, name, "labels.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();

        using var commit = await gateway.PostAsJsonAsync($"/api/datasets/{name}/versions/1/commits", new
        {
            message = "Reviewed the first batch",
            edits = new object[]
            {
                new { op = "accept", index = 0 },
                new { op = "reject", index = 1 },
                new { op = "edit", index = 2, answer = "A better answer 2." },
                new { op = "add", example = JsonDocument.Parse(Chat("Question 5?", "Answer 5.")).RootElement },
            },
        }, Ct);

        Assert.Equal(HttpStatusCode.Created, commit.StatusCode);
        using var v2 = await commit.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.Equal(2, v2!.RootElement.GetProperty("version").GetInt32());
        Assert.Equal(1, v2.RootElement.GetProperty("parent_version").GetInt32());
        Assert.Equal("Reviewed the first batch", v2.RootElement.GetProperty("message").GetString());
        Assert.Equal(5, v2.RootElement.GetProperty("examples").GetInt64());

        using var diff = await gateway.GetFromJsonAsync<JsonDocument>($"/api/datasets/{name}/diff?from=1&to=2", Ct);
        var d = diff!.RootElement;
        Assert.Equal((1, 1, 1, 3), (d.GetProperty("added").GetInt64(), d.GetProperty("removed").GetInt64(), d.GetProperty("changed").GetInt64(), d.GetProperty("unchanged").GetInt64()));
        Assert.Contains("Question 5?", d.GetProperty("added_examples")[0].GetProperty("after").GetString());
        Assert.Contains("Answer 1.", d.GetProperty("removed_examples")[0].GetProperty("before").GetString());
        var change = d.GetProperty("changed_examples")[0];
        Assert.Contains("Answer 2.", change.GetProperty("before").GetString());
        Assert.Contains("A better answer 2.", change.GetProperty("after").GetString());
    }

    [Fact]
    public async Task The_seeds_context_response_format_can_be_labelled_too()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("seedfmt");
        var content = string.Join("\n",
            JsonSerializer.Serialize(new { context = "Клиент спрашивает о возврате.", response = "Возврат занимает 5 дней." }),
            JsonSerializer.Serialize(new { context = "Клиент забыл пароль.", response = "Нажмите «Забыли пароль»." }));
        using var upload = await UploadAsync(gateway, name, "seed.jsonl", content);
        using var created = await upload.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.Equal("context_response", created!.RootElement.GetProperty("format").GetString());

        using var commit = await gateway.PostAsJsonAsync($"/api/datasets/{name}/versions/1/commits", new
        {
            message = "Clearer refund answer",
            edits = new object[] { new { op = "edit", index = 0, answer = "Деньги вернутся в течение 5 рабочих дней." } },
        }, Ct);

        Assert.Equal(HttpStatusCode.Created, commit.StatusCode);
        var body = await gateway.GetStringAsync($"/api/datasets/{name}/versions/2/download", Ct);
        Assert.Contains("5 рабочих дней", JsonDocument.Parse(body.Split('\n')[0]).RootElement.GetProperty("response").GetString());
    }

    [Fact]
    public async Task Statistics_count_tokens_with_the_chosen_tokenizer()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var line = Chat("Hello world", "Hi!");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(UniqueName("bytes")), "name" },
            { new StringContent("bytes"), "tokenizer" },
            { new StringContent(line), "file", "d.jsonl" },
        };

        using var response = await gateway.PostAsync("/api/datasets", form, Ct);

        using var version = await response.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.Equal("bytes", version!.RootElement.GetProperty("tokenizer").GetString());
        // One token per UTF-8 byte of the text fields: "Hello world" + "Hi!".
        Assert.Equal(14, version.RootElement.GetProperty("tokens").GetInt64());
    }

    [Fact]
    public async Task Bad_edits_are_problems_naming_the_field_and_store_nothing()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("badedit");
        (await UploadAsync(gateway, name, "d.jsonl", Chat("Hi?", "Hello."))).EnsureSuccessStatusCode();

        using var response = await gateway.PostAsJsonAsync($"/api/datasets/{name}/versions/1/commits", new
        {
            message = "oops",
            edits = new object[] { new { op = "edit", index = 7, answer = "x" } },
        }, Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = await response.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.True(problem!.RootElement.GetProperty("errors").TryGetProperty("edits[0].index", out _));
        using var dataset = await gateway.GetFromJsonAsync<JsonDocument>($"/api/datasets/{name}", Ct);
        Assert.Equal(1, dataset!.RootElement.GetProperty("versions").GetArrayLength());
    }

    [Fact]
    public async Task A_version_used_by_a_job_cannot_be_deleted_and_an_unused_one_can()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("inuse");
        using var upload = await UploadAsync(gateway, name, "d.jsonl", Chat("Hi?", "Hello."));
        upload.EnsureSuccessStatusCode();

        // Jobs record the dataset versions they read in dataset_version_usages; stand in for one here.
        await using (var db = await OpenDatabaseAsync())
        {
            await using var use = new NpgsqlCommand("""
                INSERT INTO dataset_version_usages (dataset_version_id, used_by_kind, used_by_id, created_at)
                SELECT v.id, 'job', 'ftjob-test', now() FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id
                WHERE d.name = @name AND v.version = 1
                """, db);
            use.Parameters.AddWithValue("name", name);
            Assert.Equal(1, await use.ExecuteNonQueryAsync(Ct));
        }

        using var refused = await gateway.DeleteAsync($"/api/datasets/{name}/versions/1", Ct);
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Contains("ftjob-test", await refused.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.OK, (await gateway.GetAsync($"/api/datasets/{name}/versions/1", Ct)).StatusCode);

        await using (var db = await OpenDatabaseAsync())
        {
            await using var release = new NpgsqlCommand("DELETE FROM dataset_version_usages WHERE used_by_id = 'ftjob-test'", db);
            await release.ExecuteNonQueryAsync(Ct);
        }
        using var deleted = await gateway.DeleteAsync($"/api/datasets/{name}/versions/1", Ct);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await gateway.GetAsync($"/api/datasets/{name}/versions/1", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_seeded_split_has_exact_counts_is_repeatable_and_partitions_the_examples()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("split");
        var lines = Enumerable.Range(0, 50).Select(i => Chat($"Q{i}?", $"A{i}.")).ToList();
        (await UploadAsync(gateway, name, "d.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();

        using var first = await gateway.PostAsJsonAsync($"/api/datasets/{name}/versions/1/splits", new { ratios = new[] { 0.6, 0.2, 0.2 }, seed = 7 }, Ct);
        using var second = await gateway.PostAsJsonAsync($"/api/datasets/{name}/versions/latest/splits", new { ratios = new[] { 0.6, 0.2, 0.2 }, seed = 7 }, Ct);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        using var a = await first.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        using var b = await second.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        var id = a!.RootElement.GetProperty("id").GetGuid();
        Assert.Equal(id, b!.RootElement.GetProperty("id").GetGuid());
        var parts = a.RootElement.GetProperty("parts");
        Assert.Equal((30, 10, 10), (parts.GetProperty("train").GetProperty("examples").GetInt64(),
            parts.GetProperty("validation").GetProperty("examples").GetInt64(), parts.GetProperty("test").GetProperty("examples").GetInt64()));

        var seen = new List<string>();
        foreach (var part in new[] { "train", "validation", "test" })
        {
            var body = await gateway.GetStringAsync($"/api/datasets/{name}/versions/1/splits/{id}/{part}", Ct);
            seen.AddRange(body.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        Assert.Equal(50, seen.Count);
        Assert.Equal(50, seen.Distinct().Count());
    }

    [Fact]
    public async Task Examples_page_in_file_order_and_search_filters_them()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("pages");
        var lines = Enumerable.Range(0, 30).Select(i => Chat($"Question number {i}?", i % 10 == 3 ? "Refunds take 5 days." : $"Answer {i}.")).ToList();
        (await UploadAsync(gateway, name, "d.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();

        using var page = await gateway.GetFromJsonAsync<JsonDocument>($"/api/datasets/{name}/versions/1/examples?offset=10&limit=5", Ct);
        var items = page!.RootElement.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(30, page.RootElement.GetProperty("total").GetInt64());
        Assert.Equal([10L, 11, 12, 13, 14], items.Select(i => i.GetProperty("index").GetInt64()));
        Assert.Equal("Question number 10?", items[0].GetProperty("example").GetProperty("messages")[0].GetProperty("content").GetString());

        using var found = await gateway.GetFromJsonAsync<JsonDocument>($"/api/datasets/{name}/versions/1/examples?search=REFUNDS", Ct);
        Assert.Equal(3, found!.RootElement.GetProperty("total").GetInt64());
        Assert.Equal([3L, 13, 23], found.RootElement.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("index").GetInt64()));
    }

    [Fact]
    public async Task Personal_data_is_flagged_in_statistics_and_redaction_makes_a_clean_version()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("pii");
        var content = string.Join("\n", Chat("My e-mail is jane.doe@example.com", "Thanks, noted."), Chat("Card 4111 1111 1111 1111 was charged twice", "We will refund it."));
        using var upload = await UploadAsync(gateway, name, "d.jsonl", content);
        using var created = await upload.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        var pii = created!.RootElement.GetProperty("statistics").GetProperty("pii");
        Assert.Equal(1, pii.GetProperty("emails").GetInt64());
        Assert.Equal(1, pii.GetProperty("card_numbers").GetInt64());

        using var redaction = await gateway.PostAsync($"/api/datasets/{name}/versions/1/redactions", null, Ct);
        Assert.Equal(HttpStatusCode.Created, redaction.StatusCode);
        using var redacted = await redaction.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.Equal("redaction", redacted!.RootElement.GetProperty("origin").GetString());
        var clean = redacted.RootElement.GetProperty("statistics").GetProperty("pii");
        Assert.Equal(0, clean.GetProperty("emails").GetInt64() + clean.GetProperty("card_numbers").GetInt64());
        var body = await gateway.GetStringAsync($"/api/datasets/{name}/versions/2/download", Ct);
        Assert.DoesNotContain("jane.doe@example.com", body);
        Assert.DoesNotContain("4111 1111 1111 1111", body);
    }

    [Fact]
    public async Task Raw_text_is_chunked_into_pretraining_examples_with_the_chunking_recorded()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var name = UniqueName("corpus");
        var text = string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"Paragraph {i}: the Acme router restarts when the reset button is held for ten seconds."));
        using var form = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent("500"), "chunk_chars" },
            { new StringContent("50"), "overlap_chars" },
            { new StringContent(text), "file", "manual.txt" },
        };
        using var response = await gateway.PostAsync("/api/datasets", form, Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var version = await response.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.Equal("text", version!.RootElement.GetProperty("format").GetString());
        Assert.Equal("text", version.RootElement.GetProperty("origin").GetString());
        var chunking = version.RootElement.GetProperty("derivation");
        Assert.Equal(500, chunking.GetProperty("chunk_chars").GetInt32());
        Assert.Equal(50, chunking.GetProperty("overlap_chars").GetInt32());
        Assert.True(version.RootElement.GetProperty("examples").GetInt64() >= text.Length / 500);
    }

    [Fact]
    public async Task Unknown_datasets_and_bad_references_are_problem_details_not_errors()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var missing = await gateway.GetAsync("/api/datasets/no-such-dataset/versions/latest", Ct);
        using var badVersion = await gateway.GetAsync("/api/datasets/x/versions/first", Ct);
        using var badName = await UploadAsync(gateway, "Not A Name!", "d.jsonl", Chat("a", "b"));

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badVersion.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, badName.StatusCode);
        using var problem = await badName.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        Assert.True(problem!.RootElement.GetProperty("errors").TryGetProperty("name", out _));
    }

    internal async Task<NpgsqlConnection> OpenDatabaseAsync()
    {
        var connection = new NpgsqlConnection(await fixture.Platform.GetConnectionStringAsync("assistantdb"));
        await connection.OpenAsync(Ct);
        return connection;
    }
}
