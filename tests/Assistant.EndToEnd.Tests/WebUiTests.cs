using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// The web UI in a real browser (Debian's chromium driven by Playwright, never a downloaded browser) against the
/// platform the AppHost started, through the gateway like a user: sign in with an API key, the dashboard, a job
/// created from the form and followed live on its page, the models page with lineage, and a phone-width layout.
/// Every page visited is saved as a full-page screenshot under TestResults/screenshots.
/// </summary>
public sealed class WebUiTests(PlatformFixture fixture, BrowserFixture browser) : WebTest(fixture, browser), IClassFixture<BrowserFixture>
{
    [Fact]
    public async Task Signing_in_with_the_admin_key_opens_the_dashboard_with_the_workers_and_signing_out_ends_the_session()
    {
        var page = await NewPageAsync();

        // Every page needs a session: the dashboard sends a stranger to sign in, and back after.
        await page.GotoAsync("/");
        Assert.EndsWith("/signin?ReturnUrl=%2F", page.Url);
        await ScreenshotAsync(page, "signin");

        await page.GetByLabel("API key").FillAsync(Platform.AdminApiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());
        Assert.Equal("Dashboard", await page.Locator("h1").TextContentAsync());

        // The key lives in an encrypted cookie that scripts cannot read and other sites cannot send.
        var session = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "assistant.session");
        Assert.True(session.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, session.SameSite);
        Assert.DoesNotContain(Platform.AdminApiKey, session.Value);

        // Workers with their CPU and memory, every service up, and the page keeps itself fresh without a reload.
        var workers = page.Locator("#workers tbody tr");
        await Assertions.Expect(workers.First).ToBeVisibleAsync();
        Assert.Matches(@"^\d+(\.\d)?%$", (await workers.First.Locator("td[data-label=CPU]").TextContentAsync())!.Trim());
        Assert.Contains(" of ", await workers.First.Locator("td[data-label=Memory]").TextContentAsync());
        await Assertions.Expect(page.Locator("#services .pill.up")).ToHaveCountAsync(7);
        await Assertions.Expect(page.Locator("#refreshed")).ToContainTextAsync("Updated", new() { Timeout = 10_000 });
        await ScreenshotAsync(page, "dashboard");

        await page.GetByRole(AriaRole.Link, new() { Name = "Status", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Platform status");
        await ScreenshotAsync(page, "status");

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("You are signed out.");
        await page.GotoAsync("/jobs");
        Assert.Contains("/signin", page.Url);
    }

    [Fact]
    public async Task A_key_the_gateway_refuses_is_not_signed_in_and_the_page_says_why()
    {
        var page = await NewPageAsync();

        await SignInAsync(page, "   ");
        await Assertions.Expect(page.GetByTestId("signin-error")).ToHaveTextAsync("Enter an API key.");

        const string madeUp = "asst_web-test-made-up-key-000000000000000000000";
        await SignInAsync(page, madeUp);
        await Assertions.Expect(page.GetByTestId("signin-error")).ToContainTextAsync("This key was refused by the gateway: ");
        Assert.Contains("/signin", page.Url);
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "assistant.session");
        await ScreenshotAsync(page, "signin-refused");
    }

    [Fact]
    public async Task A_job_created_from_the_form_is_followed_live_until_it_succeeds_and_its_model_shows_its_lineage()
    {
        using var api = Api();
        // The shipped samples are valid datasets; the job trains on short conversations, to stay quick.
        await UploadSampleAsync(api, "support-conversations.jsonl", "chat");
        await UploadSampleAsync(api, "lumen-corpus.jsonl", "text");
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "webui", examples: 16);
        var suffix = DatasetsApiTests.UniqueName("webui");
        var page = await NewPageAsync();
        await SignInAsync(page, Platform.AdminApiKey);
        await page.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());

        await page.GetByRole(AriaRole.Link, new() { Name = "New job", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("New job");
        await page.GetByLabel("Base model").SelectOptionAsync("starter");
        await page.GetByLabel("Full fine-tune").CheckAsync();
        await page.GetByLabel("Training data").SelectOptionAsync(data);
        await page.GetByLabel("Model name (suffix)").FillAsync(suffix);
        await page.GetByLabel("Max steps").FillAsync("12");
        await page.GetByLabel("Batch size").FillAsync("2");
        await page.GetByLabel("Max length").FillAsync("64");
        await page.GetByLabel("Hold out for validation (%)").FillAsync("25");

        // The API's refusal shows next to the field it names, and nothing is created.
        await page.GetByLabel("Learning rate").FillAsync("-1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create job" }).ClickAsync();
        var error = page.Locator("[data-error-for='hyperparameters.learning_rate']");
        await Assertions.Expect(error).ToContainTextAsync("learning_rate must be a positive number");
        await Assertions.Expect(page.GetByLabel("Learning rate")).ToHaveAttributeAsync("aria-invalid", "true");
        await ScreenshotAsync(page, "new-job-error");

        // Dispatch waits while the job's page opens, so every point it plots arrives live.
        (await api.PostAsJsonAsync("/api/queue/pause", new { reason = "web UI test opens the job page first" }, Ct)).EnsureSuccessStatusCode();
        string id;
        try
        {
            await page.GetByLabel("Learning rate").FillAsync("0.001");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create job" }).ClickAsync();
            await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/jobs/ftjob-"));
            id = page.Url[(page.Url.LastIndexOf('/') + 1)..];
            await Assertions.Expect(page.Locator("#job-status")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("queued|validating files"));
            await Assertions.Expect(page.Locator("#chart-loss")).ToHaveAttributeAsync("data-points", "0");
            // Every value the loss chart takes, with the status shown then; and a mark a reload would wipe.
            await page.EvaluateAsync("""
                () => {
                  window.noReload = true;
                  window.lossPoints = [];
                  const chart = document.getElementById("chart-loss");
                  new MutationObserver(() => window.lossPoints.push([Number(chart.dataset.points), document.getElementById("job-status").textContent]))
                    .observe(chart, { attributes: true, attributeFilter: ["data-points"] });
                }
                """);
        }
        finally
        {
            (await api.PostAsync("/api/queue/resume", null, Ct)).EnsureSuccessStatusCode();
        }

        await Assertions.Expect(page.Locator("#job-status")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("succeeded|failed|cancelled"), new() { Timeout = 120_000 });
        if (await page.Locator("#job-status").TextContentAsync() != "succeeded")
        {
            await ScreenshotAsync(page, "job-detail-failed");
            Assert.Fail($"Job {id} did not succeed: {await page.Locator("#job-error").TextContentAsync()}");
        }
        // Twelve train-loss points and the held-out data's validation loss at the end.
        await Assertions.Expect(page.Locator("#chart-loss")).ToHaveAttributeAsync("data-points", "13");
        await Assertions.Expect(page.Locator("#chart-loss")).ToHaveAttributeAsync("aria-label", new System.Text.RegularExpressions.Regex(@"\(12 points\); validation loss: [\d.]+ at step 12 \(1 point\)"));
        Assert.True(await page.EvaluateAsync<bool>("() => window.noReload === true"), "The job page reloaded.");
        var history = await page.EvaluateAsync<JsonElement>("() => window.lossPoints");
        var counts = history.EnumerateArray().Select(h => h[0].GetInt32()).ToList();
        Assert.True(counts.Count > 0 && counts.Zip(counts.Skip(1)).All(p => p.Second >= p.First) && counts[^1] == 13, string.Join(",", counts));
        // Points arrived from the live stream while the job was still running, not only at the end.
        Assert.Contains(history.EnumerateArray(), h => h[0].GetInt32() > 0 && h[1].GetString() == "running");
        await Assertions.Expect(page.Locator("#chart-lr")).ToHaveAttributeAsync("data-points", "12");
        await Assertions.Expect(page.Locator("#timeline")).ToContainTextAsync("completed");
        await Assertions.Expect(page.Locator("#deploy-form")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#cancel-form")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#checkpoints")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#job-result a")).ToHaveTextAsync($"{suffix}@1");
        // A quarter of the training data was held out for validation by the API's seeded split.
        var created = await api.GetFromJsonAsync<JsonElement>($"/api/jobs/{id}", Ct);
        Assert.Equal($"{data}#validation", created.GetProperty("datasets").GetProperty("validation").GetString());
        await ScreenshotAsync(page, "job-detail");

        await page.GetByRole(AriaRole.Link, new() { Name = "Jobs", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator($"#jobs tr[data-job='{id}']")).ToContainTextAsync("succeeded");
        await ScreenshotAsync(page, "jobs");

        // The registered model, with its lineage: dataset version -> job -> version -> aliases.
        await page.GetByRole(AriaRole.Link, new() { Name = "Models", Exact = true }).ClickAsync();
        var row = page.Locator($"#models tr[data-model='{suffix}']");
        await Assertions.Expect(row).ToContainTextAsync("v1");
        await ScreenshotAsync(page, "models");
        await row.GetByRole(AriaRole.Link, new() { Name = suffix }).ClickAsync();
        var lineage = page.Locator("#versions li[data-version='1'] .lineage");
        await Assertions.Expect(lineage).ToContainTextAsync($"{data} (train)");
        await Assertions.Expect(lineage).ToContainTextAsync(id);
        await Assertions.Expect(lineage).ToContainTextAsync($"{suffix}@1");

        // Moving an alias from the form is recorded in the history (staging: inference follows production only).
        await page.GetByLabel("Alias", new() { Exact = true }).FillAsync("staging");
        await page.GetByLabel("Reason").FillAsync("web UI test");
        await page.GetByRole(AriaRole.Button, new() { Name = "Move alias" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status)).ToHaveTextAsync("staging now points at version 1.");
        await Assertions.Expect(page.Locator("#alias-history")).ToContainTextAsync("web UI test");
        await Assertions.Expect(lineage).ToContainTextAsync("staging");
        await ScreenshotAsync(page, "model-detail");

        await page.GetByRole(AriaRole.Link, new() { Name = "Playground", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Playground");
        await ScreenshotAsync(page, "playground");
    }

    [Fact]
    public async Task At_phone_width_every_page_of_the_nav_is_reachable_and_nothing_scrolls_sideways()
    {
        var page = await NewPageAsync(width: 390, height: 844);
        await SignInAsync(page, Platform.AdminApiKey);
        await page.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());
        await ScreenshotAsync(page, "phone-dashboard");

        var links = page.GetByRole(AriaRole.Navigation, new() { Name = "Main" }).GetByRole(AriaRole.Link);
        Assert.Equal(["Dashboard", "Jobs", "New job", "Compare", "Datasets", "Models", "Playground", "Alerts", "Status"], await links.AllTextContentsAsync());
        foreach (var link in await links.AllAsync())
        {
            await Assertions.Expect(link).ToBeVisibleAsync();
            var box = (await link.BoundingBoxAsync())!;
            Assert.True(box.X >= 0 && box.X + box.Width <= 390, $"{await link.TextContentAsync()} is outside the screen: {box.X}+{box.Width}");
            Assert.True(box.Height >= 40, $"{await link.TextContentAsync()} is {box.Height}px high: too small to tap");
        }
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "The dashboard scrolls sideways.");

        foreach (var (name, heading) in new[] { ("Jobs", "Jobs"), ("New job", "New job"), ("Models", "Models") })
        {
            await links.GetByText(name, new() { Exact = true }).ClickAsync();
            await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync(heading);
            Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), $"{name} scrolls sideways.");
            await ScreenshotAsync(page, $"phone-{name.ToLowerInvariant().Replace(' ', '-')}");
        }
    }
}
