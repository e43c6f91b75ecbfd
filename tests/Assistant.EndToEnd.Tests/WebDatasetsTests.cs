using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// The datasets pages in a real browser through the gateway: uploading with a progress bar (and a bad file's errors
/// by line, storing nothing), a version's statistics and token histogram, paging and searching examples, labelling
/// committed as a new version and its diff, splitting, and the phone-width layout. What the pages show is checked
/// against what the API says.
/// </summary>
public sealed class WebDatasetsTests(PlatformFixture fixture, BrowserFixture browser) : WebTest(fixture, browser), IClassFixture<BrowserFixture>
{
    private static async Task<JsonElement> GetJsonAsync(HttpClient api, string path)
    {
        using var doc = await api.GetFromJsonAsync<JsonDocument>(path, Ct);
        return doc!.RootElement.Clone();
    }

    /// <summary>Opens <paramref name="path"/> as a stranger, signs in with the admin key and lands back there.</summary>
    private async Task<IPage> SignedInAtAsync(string path, int width = 1280, int height = 800)
    {
        var page = await NewPageAsync(width, height);
        await page.GotoAsync(path);
        await page.GetByLabel("API key").FillAsync(Platform.AdminApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(new Regex(Regex.Escape(path) + "$"), new() { Timeout = 30_000 });
        return page;
    }

    private static Task<bool> ScrollsSidewaysAsync(IPage page) =>
        page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth > window.innerWidth");

    [Fact]
    public async Task Uploading_the_support_sample_fills_the_progress_bar_and_opens_the_new_version_with_its_statistics()
    {
        using var api = Api();
        var name = DatasetsApiTests.UniqueName("webup");
        var page = await SignedInAtAsync("/datasets");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Datasets");
        await ScreenshotAsync(page, "datasets");

        // Every value the progress bar shows, with its text, reported out of the page (it navigates away when done).
        var seen = new ConcurrentQueue<string>();
        await page.ExposeFunctionAsync("uploadProgressSeen", (string value) => seen.Enqueue(value));
        await page.EvaluateAsync("""
            () => {
              const bar = document.getElementById("upload-progress"), text = document.getElementById("upload-percent");
              new MutationObserver(() => window.uploadProgressSeen(`${bar.getAttribute("aria-valuenow")}|${bar.value}|${text.textContent}`))
                .observe(text, { childList: true, characterData: true, subtree: true });
            }
            """);
        await page.GetByLabel("File").SetInputFilesAsync(Path.Combine(RepositoryRoot, "samples", "support-conversations.jsonl"));
        await page.GetByLabel("Name").FillAsync(name);
        await page.GetByLabel("Format").SelectOptionAsync("chat");
        await page.GetByLabel("Description").FillAsync("Lumen support conversations, uploaded from the browser");
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();

        await page.WaitForURLAsync(new Regex($"/datasets/{name}/1$"), new() { Timeout = 60_000 });
        // The page reports each value as it shows it; the last report may land just after the navigation.
        var reported = Task.Run(async () => { while (!seen.Contains("100|100|100%")) await Task.Delay(50, Ct); }, Ct);
        Assert.True(await Task.WhenAny(reported, Task.Delay(5_000, Ct)) == reported, $"The progress bar never showed 100%: {string.Join(", ", seen)}");

        var version = await GetJsonAsync(api, $"/api/datasets/{name}/versions/1");
        Assert.Equal("support-conversations.jsonl", version.GetProperty("source_file_name").GetString());
        await Assertions.Expect(page.Locator("#version-examples")).ToHaveAttributeAsync("data-value", version.GetProperty("examples").GetInt64().ToString());
        var buckets = version.GetProperty("statistics").GetProperty("token_histogram").GetArrayLength();
        Assert.True(buckets > 0);
        await Assertions.Expect(page.Locator("#token-histogram rect.bar")).ToHaveCountAsync(buckets);
        // The chart has a text alternative naming each range.
        Assert.Contains("Examples by token length:", await page.Locator("#token-histogram title").First.TextContentAsync());
        await ScreenshotAsync(page, "dataset-version");

        // The version downloads as the very bytes uploaded.
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator("#download-version").ClickAsync());
        Assert.Equal($"{name}-v1.jsonl", download.SuggestedFilename);
        var saved = await download.PathAsync();
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(RepositoryRoot, "samples", "support-conversations.jsonl"), Ct), await File.ReadAllBytesAsync(saved, Ct));

        // The list shows it with its latest version and size.
        await page.GotoAsync("/datasets");
        var row = page.Locator($"#datasets tr[data-dataset='{name}']");
        await Assertions.Expect(row.Locator("td[data-label='Latest version']")).ToHaveTextAsync("v1");
        await Assertions.Expect(row.Locator("td[data-label='Examples']")).ToHaveTextAsync(version.GetProperty("examples").GetInt64().ToString("#,0", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Upload_options_count_tokens_with_the_chosen_tokenizer_and_refuse_examples_over_the_limit_only_when_asked()
    {
        using var api = Api();
        var name = DatasetsApiTests.UniqueName("webopt");
        // 200 tokens: the long answer's 400-odd bytes are over it, its ~90 GPT-2 tokens would not be.
        var longAnswer = string.Join(" ", Enumerable.Repeat("Hold the pairing button until the ring blinks twice, then wait.", 7));
        var content = DatasetsApiTests.Chat("Hi", "Hello!") + "\n" + DatasetsApiTests.Chat("How do I pair my lamp?", longAnswer) + "\n";
        var page = await SignedInAtAsync("/datasets");
        await page.GetByLabel("File").SetInputFilesAsync(new FilePayload { Name = "options.jsonl", MimeType = "application/jsonl", Buffer = Encoding.UTF8.GetBytes(content) });
        await page.GetByLabel("Name").FillAsync(name);
        await page.Locator("#upload-options summary").ClickAsync();
        await page.GetByLabel("Count tokens with").SelectOptionAsync("bytes");
        await page.GetByLabel("Length limit (tokens)").FillAsync("200");
        await page.GetByLabel("Refuse the upload if an example is over the length limit").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();

        await Assertions.Expect(page.Locator("#upload-error-lines li[data-line='2']")).ToContainTextAsync("the maximum is 200", new() { Timeout = 30_000 });
        Assert.Equal(1, await page.Locator("#upload-error-lines li[data-line]").CountAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/datasets/{name}", Ct)).StatusCode);

        // Counted, not refused: stored with the bytes tokenizer, the long example counted over the limit.
        await page.GetByLabel("Refuse the upload if an example is over the length limit").UncheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
        await page.WaitForURLAsync(new Regex($"/datasets/{name}/1$"), new() { Timeout = 60_000 });
        var version = await GetJsonAsync(api, $"/api/datasets/{name}/versions/1");
        Assert.Equal("bytes", version.GetProperty("tokenizer").GetString());
        Assert.Equal(1, version.GetProperty("statistics").GetProperty("over_max_length").GetInt64());
    }

    [Fact]
    public async Task A_file_with_broken_lines_lists_the_errors_by_line_and_stores_nothing()
    {
        using var api = Api();
        var name = DatasetsApiTests.UniqueName("webbad");
        var content = string.Join("\n",
            DatasetsApiTests.Chat("How do I pair my lamp?", "Hold the button for five seconds."),
            """{"messages": [{"role": "user", "content": "broken""",
            DatasetsApiTests.Chat("Is it dimmable?", "Yes, from the app."),
            JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = "Nobody answers this one" } } })) + "\n";
        var page = await SignedInAtAsync("/datasets");

        // A name the API refuses: the message shows next to the name field.
        await page.GetByLabel("File").SetInputFilesAsync(new FilePayload { Name = "broken.jsonl", MimeType = "application/jsonl", Buffer = Encoding.UTF8.GetBytes(content) });
        await page.GetByLabel("Name").FillAsync("not a name!");
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-error-for='name']")).ToContainTextAsync("not a dataset name");
        await Assertions.Expect(page.GetByLabel("Name")).ToHaveAttributeAsync("aria-invalid", "true");

        await page.GetByLabel("Name").FillAsync(name);
        await page.GetByRole(AriaRole.Button, new() { Name = "Upload" }).ClickAsync();
        var errors = page.Locator("#upload-error-lines li[data-line]");
        await Assertions.Expect(page.Locator("#upload-errors")).ToBeVisibleAsync(new() { Timeout = 30_000 });
        await Assertions.Expect(page.Locator("#upload-progress")).ToHaveAttributeAsync("aria-valuenow", "100");
        await Assertions.Expect(page.Locator("#upload-error-lines li[data-line='2']")).ToContainTextAsync("line 2: ");
        await Assertions.Expect(page.Locator("#upload-error-lines li[data-line='4']")).ToContainTextAsync("line 4: ");
        Assert.Equal("Nothing was stored.", await page.Locator("#upload-state").TextContentAsync());
        Assert.Contains("/datasets", page.Url);
        await ScreenshotAsync(page, "dataset-upload-errors");

        // The page lists exactly the API's errors, and nothing was created.
        using var direct = await DatasetsApiTests.UploadAsync(api, name, "broken.jsonl", content);
        Assert.Equal(HttpStatusCode.BadRequest, direct.StatusCode);
        using var problem = await direct.Content.ReadFromJsonAsync<JsonDocument>(Ct);
        var expected = problem!.RootElement.GetProperty("errors").EnumerateArray()
            .Select(e => $"line {e.GetProperty("line").GetInt64()}: {e.GetProperty("message").GetString()}").ToList();
        var shown = (await errors.AllTextContentsAsync()).ToList();
        Assert.Equal(expected.Count, shown.Count);
        Assert.All(expected.Zip(shown), pair => Assert.StartsWith(pair.First, pair.Second));
        Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/datasets/{name}", Ct)).StatusCode);
    }

    [Fact]
    public async Task Browsing_searching_and_labelling_commit_a_new_version_whose_differences_the_page_shows()
    {
        using var api = Api();
        var name = DatasetsApiTests.UniqueName("weblab");
        var lines = Enumerable.Range(0, 30).Select(i => DatasetsApiTests.Chat($"Question number {i}?", i == 23 ? "Refunds take five days." : $"Answer {i}.")).ToList();
        (await DatasetsApiTests.UploadAsync(api, name, "labels.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();
        var page = await SignedInAtAsync($"/datasets/{name}/1");

        // Pages of 20, in file order, with their line numbers.
        var examples = page.Locator("li.example");
        await Assertions.Expect(examples).ToHaveCountAsync(20);
        await Assertions.Expect(page.Locator("#examples-range")).ToHaveTextAsync("Examples 1–20 of 30");
        await Assertions.Expect(examples.First).ToContainTextAsync("Question number 0?");
        await Assertions.Expect(examples.First.Locator("h3")).ToContainTextAsync("line 1");
        await page.GetByRole(AriaRole.Link, new() { Name = "Next →" }).ClickAsync();
        await Assertions.Expect(examples).ToHaveCountAsync(10);
        await Assertions.Expect(examples.First).ToContainTextAsync("Question number 20?");
        await page.GetByRole(AriaRole.Link, new() { Name = "← Previous" }).ClickAsync();
        await Assertions.Expect(examples.First).ToContainTextAsync("Question number 0?");

        // Search asks the API and finds the one example about refunds; reject it.
        await page.GetByLabel("Search examples").FillAsync("refunds");
        await page.GetByRole(AriaRole.Button, new() { Name = "Search", Exact = true }).ClickAsync();
        await Assertions.Expect(examples).ToHaveCountAsync(1);
        await Assertions.Expect(examples.First).ToHaveAttributeAsync("data-index", "23");
        await Assertions.Expect(examples.First).ToContainTextAsync("Refunds take five days.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Reject example 23" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("1");

        // Pending edits survive paging: edit an answer and accept (then undo) on the first page, add one example.
        await page.GetByRole(AriaRole.Link, new() { Name = "Clear search" }).ClickAsync();
        await Assertions.Expect(examples).ToHaveCountAsync(20);
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Edit answer of example 2" }).ClickAsync();
        var answer = page.GetByLabel("New answer for example 2");
        await Assertions.Expect(answer).ToHaveValueAsync("Answer 2.");
        await answer.FillAsync("A clearer answer 2.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Keep edit of example 2" }).ClickAsync();
        await Assertions.Expect(page.Locator("li.example[data-index='2']")).ToHaveAttributeAsync("data-pending", "edit");
        await page.GetByRole(AriaRole.Button, new() { Name = "Accept example 0" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("3");
        await page.GetByRole(AriaRole.Button, new() { Name = "Undo: Accept example 0 (line 1)" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("2");
        await page.GetByLabel("User message").FillAsync("Question number 30?");
        await page.GetByLabel("Assistant answer").FillAsync("Answer 30.");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add to pending edits" }).ClickAsync();
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("3");
        await Assertions.Expect(page.Locator("#pending-list li")).ToHaveCountAsync(3);
        await ScreenshotAsync(page, "dataset-examples");

        // The API refuses a blank message: the refusal shows and the edits stay pending.
        await page.GetByLabel("Commit message").FillAsync("   ");
        await page.GetByRole(AriaRole.Button, new() { Name = "Commit as new version" }).ClickAsync();
        await Assertions.Expect(page.Locator("#commit-error")).ToContainTextAsync("A commit needs a message");
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("3");
        Assert.Equal(1, (await GetJsonAsync(api, $"/api/datasets/{name}")).GetProperty("versions").GetArrayLength());

        await page.GetByLabel("Commit message").FillAsync("Reviewed in the browser");
        await page.GetByRole(AriaRole.Button, new() { Name = "Commit as new version" }).ClickAsync();
        await page.WaitForURLAsync(new Regex($"/datasets/{name}/2$"));
        var v2 = await GetJsonAsync(api, $"/api/datasets/{name}/versions/2");
        Assert.Equal("Reviewed in the browser", v2.GetProperty("message").GetString());
        Assert.Equal(1, v2.GetProperty("parent_version").GetInt32());
        Assert.Equal(30, v2.GetProperty("examples").GetInt64());
        await Assertions.Expect(page.Locator("#version-examples")).ToHaveAttributeAsync("data-value", "30");
        await Assertions.Expect(page.Locator("#pending-count")).ToHaveTextAsync("0");

        // The dataset page's compare form opens the diff; its counts are the API's, and the edit shows before and after.
        await page.GotoAsync($"/datasets/{name}");
        await Assertions.Expect(page.Locator("#versions tbody tr")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#versions tr[data-version='2']")).ToContainTextAsync("Reviewed in the browser");
        await page.Locator("#diff-from").SelectOptionAsync("1");
        await page.Locator("#diff-to").SelectOptionAsync("2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show differences" }).ClickAsync();
        await page.WaitForURLAsync(new Regex($"/datasets/{name}/diff\\?from=1&to=2$"));
        var diff = await GetJsonAsync(api, $"/api/datasets/{name}/diff?from=1&to=2");
        foreach (var kind in new[] { "added", "removed", "changed", "unchanged" })
        {
            await Assertions.Expect(page.Locator($"#diff-{kind}")).ToHaveAttributeAsync("data-count", diff.GetProperty(kind).GetInt64().ToString());
        }
        Assert.Equal((1, 1, 1), (diff.GetProperty("added").GetInt64(), diff.GetProperty("removed").GetInt64(), diff.GetProperty("changed").GetInt64()));
        await Assertions.Expect(page.Locator("#diff-added-list")).ToContainTextAsync("Question number 30?");
        await Assertions.Expect(page.Locator("#diff-removed-list")).ToContainTextAsync("Refunds take five days.");
        var changed = page.Locator("#diff-changed-list li").First;
        await Assertions.Expect(changed.Locator(".before")).ToContainTextAsync("Answer 2.");
        await Assertions.Expect(changed.Locator(".after")).ToContainTextAsync("A clearer answer 2.");
        await ScreenshotAsync(page, "dataset-diff");
    }

    [Fact]
    public async Task Splitting_a_version_shows_three_parts_that_add_up_to_its_examples()
    {
        using var api = Api();
        var name = DatasetsApiTests.UniqueName("websplit");
        var lines = Enumerable.Range(0, 50).Select(i => DatasetsApiTests.Chat($"Q{i}?", $"A{i}."));
        (await DatasetsApiTests.UploadAsync(api, name, "d.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();
        var page = await SignedInAtAsync($"/datasets/{name}");

        // Ratios that do not add up: the API's refusal shows next to them and what was typed stays.
        await page.GetByLabel("Train").FillAsync("0.8");
        await page.GetByLabel("Validation").FillAsync("0.3");
        await page.GetByLabel("Test").FillAsync("0.1");
        await page.GetByLabel("Seed").FillAsync("42");
        await page.GetByRole(AriaRole.Button, new() { Name = "Split", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-error-for='ratios']")).ToContainTextAsync("summing to 1");
        await Assertions.Expect(page.GetByLabel("Validation")).ToHaveValueAsync("0.3");

        await page.GetByLabel("Validation").FillAsync("0.1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Split", Exact = true }).ClickAsync();
        var row = page.Locator("#splits tr.new-split");
        await Assertions.Expect(row).ToBeVisibleAsync();
        var parts = new Dictionary<string, long>();
        foreach (var part in new[] { "train", "validation", "test" })
        {
            parts[part] = long.Parse((await row.Locator($"td[data-part='{part}']").TextContentAsync())!.Replace(",", ""));
        }
        var version = await GetJsonAsync(api, $"/api/datasets/{name}/versions/1");
        Assert.Equal(version.GetProperty("examples").GetInt64(), parts.Values.Sum());
        var split = Assert.Single(version.GetProperty("splits").EnumerateArray());
        Assert.Equal(42, split.GetProperty("seed").GetInt32());
        foreach (var (part, count) in parts)
        {
            Assert.Equal(split.GetProperty("parts").GetProperty(part).GetProperty("examples").GetInt64(), count);
        }
        Assert.True(parts["train"] > parts["validation"] && parts["validation"] > 0 && parts["test"] > 0, string.Join(",", parts));
        await ScreenshotAsync(page, "dataset-split");
    }

    [Fact]
    public async Task At_phone_width_the_datasets_pages_do_not_scroll_sideways()
    {
        using var api = Api();
        var reference = await UploadSampleAsync(api, "support-conversations.jsonl", "chat");
        var name = reference[..reference.IndexOf('@')];
        var page = await SignedInAtAsync("/datasets", width: 390, height: 844);

        foreach (var (path, screenshot) in new[] { ("/datasets", "phone-datasets"), ($"/datasets/{name}", "phone-dataset"), ($"/datasets/{name}/1", "phone-dataset-version") })
        {
            await page.GotoAsync(path);
            await Assertions.Expect(page.Locator("h1")).ToBeVisibleAsync();
            Assert.False(await ScrollsSidewaysAsync(page), $"{path} scrolls sideways at 390 px.");
            await ScreenshotAsync(page, screenshot);
        }
        await Assertions.Expect(page.Locator("#token-histogram rect.bar").First).ToBeVisibleAsync();
    }
}
