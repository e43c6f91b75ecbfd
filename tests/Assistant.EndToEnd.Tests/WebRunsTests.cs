using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// Runs in the web UI: comparing runs (overlaid loss curves, hyperparameter differences), sweeps from the new-job form,
/// a job's evaluation samples and evaluating from its page, and alerts with their webhooks. Jobs are tiny (the starter
/// model, 16 examples, a few steps) so the class stays quick.
/// </summary>
public sealed class WebRunsTests(PlatformFixture fixture, BrowserFixture browser) : WebTest(fixture, browser), IClassFixture<BrowserFixture>
{
    private static readonly string[] Finished = ["succeeded", "failed", "cancelled"];

    [Fact]
    public async Task Two_runs_compared_show_their_loss_curves_apart_by_colour_and_dash_and_the_learning_rate_they_differ_in()
    {
        using var api = Api();
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "compare", examples: 16);
        var ids = new List<string>();
        foreach (var rate in new[] { 1e-3, 3e-4 })
        {
            ids.Add(await CreateTinyJobAsync(api, data, steps: 8, new JsonObject { ["learning_rate"] = rate, ["eval_steps"] = 4 }));
        }
        foreach (var id in ids)
        {
            await WaitForSuccessAsync(api, id);
        }

        var page = await SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Compare", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Compare runs");
        foreach (var id in ids)
        {
            await page.GetByLabel(id).CheckAsync();
        }
        await page.GetByRole(AriaRole.Button, new() { Name = "Compare", Exact = true }).ClickAsync();
        await page.WaitForURLAsync(new Regex("/compare\\?ids="));

        // Each run's curve has every point the API aligned for it, in its own colour and its own dash pattern.
        var comparison = await api.GetFromJsonAsync<JsonElement>($"/api/jobs/compare?ids={string.Join(',', ids)}&keys=train_loss,valid_loss", Ct);
        foreach (var key in new[] { "train_loss", "valid_loss" })
        {
            var strokes = new List<string?>();
            var dashes = new List<string?>();
            foreach (var id in ids)
            {
                var expected = comparison.GetProperty("metrics").GetProperty(key).GetProperty("series").GetProperty(id)
                    .EnumerateArray().Count(v => v.ValueKind == JsonValueKind.Number);
                Assert.True(expected > 0, $"{id} has no {key} in the API's comparison.");
                var curve = page.Locator($"#compare-{key} polyline[data-series='{id}']");
                await Assertions.Expect(curve).ToHaveAttributeAsync("data-count", expected.ToString());
                strokes.Add(await curve.GetAttributeAsync("stroke"));
                dashes.Add(await curve.GetAttributeAsync("stroke-dasharray"));
            }
            Assert.Equal(ids.Count, strokes.Distinct().Count());
            Assert.Equal(ids.Count, dashes.Distinct().Count());
            // The text alternative counts the same points.
            await Assertions.Expect(page.Locator($"#text-{key} tr[data-run='{ids[0]}'] td[data-label=Points]")).ToHaveTextAsync(
                comparison.GetProperty("metrics").GetProperty(key).GetProperty("series").GetProperty(ids[0]).EnumerateArray().Count(v => v.ValueKind == JsonValueKind.Number).ToString());
        }
        await Assertions.Expect(page.Locator("#compare-legend li")).ToHaveCountAsync(2);

        // The learning rate is the one difference, each run's value in its column; settings they share are not listed.
        var rates = comparison.GetProperty("hyperparameters").GetProperty("learning_rate");
        var row = page.Locator("#differences tr[data-key='learning_rate']");
        foreach (var id in ids)
        {
            await Assertions.Expect(row.Locator($"td[data-label='{id}']")).ToHaveTextAsync(rates.GetProperty(id).GetRawText());
        }
        await Assertions.Expect(page.Locator("#differences tr[data-key='max_steps']")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("#final-metrics tr[data-key='train_loss'] td")).ToHaveCountAsync(2);
        await ScreenshotAsync(page, "compare");

        await page.SetViewportSizeAsync(390, 844);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "The compare page scrolls sideways at phone width.");
    }

    [Fact]
    public async Task A_jobs_page_shows_each_evaluations_samples_beside_the_references_and_evaluates_its_model_on_a_dataset_version()
    {
        using var api = Api();
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "samples", examples: 16);
        var id = await CreateTinyJobAsync(api, data, steps: 8, new JsonObject { ["eval_steps"] = 4, ["eval_samples"] = 2, ["save_steps"] = 4 });

        // The page opens while the job is young: evaluations after that arrive live, without a reload.
        var page = await SignedInPageAsync();
        await page.GotoAsync($"/jobs/{id}");
        await page.EvaluateAsync("() => { window.noReload = true; }");
        await Assertions.Expect(page.Locator("#job-status")).ToHaveTextAsync(new Regex("succeeded|failed|cancelled"), new() { Timeout = 180_000 });
        Assert.Equal("succeeded", await page.Locator("#job-status").TextContentAsync());

        var events = await api.GetFromJsonAsync<JsonElement>($"/api/jobs/{id}/events?limit=200", Ct);
        var evals = events.GetProperty("data").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "eval" && e.GetProperty("data").TryGetProperty("samples", out var s) && s.GetArrayLength() > 0)
            .ToList();
        Assert.NotEmpty(evals);
        foreach (var e in evals)
        {
            var set = page.Locator($"#sample-sets .sample-set[data-event='{e.GetProperty("id").GetInt64()}']");
            await Assertions.Expect(set).ToContainTextAsync($"step {e.GetProperty("data").GetProperty("step").GetInt32()}");
            var samples = e.GetProperty("data").GetProperty("samples").EnumerateArray().ToList();
            await Assertions.Expect(set.Locator(".sample")).ToHaveCountAsync(samples.Count);
            var first = set.Locator(".sample").First;
            await Assertions.Expect(first.Locator(".sample-prompt")).ToContainTextAsync(samples[0].GetProperty("prompt").GetString()!.Trim());
            await Assertions.Expect(first.Locator(".sample-reference")).ToContainTextAsync(samples[0].GetProperty("reference").GetString()!.Trim());
            await Assertions.Expect(first.Locator(".sample-generated")).ToHaveTextAsync(samples[0].GetProperty("generated").GetString()!);
        }
        Assert.True(await page.EvaluateAsync<bool>("() => window.noReload === true"), "The job page reloaded.");
        await Assertions.Expect(page.Locator("#register-result a")).ToBeVisibleAsync();

        // Evaluating from the page: the evaluation is followed until its metrics show. A page opened before the job
        // succeeded offers the reload that brings the evaluate form (the form needs the server's dataset choices).
        if (await page.Locator("#evaluate-pending").CountAsync() > 0)
        {
            await page.Locator("#evaluate-reload").ClickAsync();
            await Assertions.Expect(page.GetByLabel("Dataset version")).ToBeVisibleAsync();
        }
        else
        {
            await page.ReloadAsync();
        }
        await page.GetByLabel("Dataset version").SelectOptionAsync(data);
        await page.GetByRole(AriaRole.Button, new() { Name = "Evaluate", Exact = true }).ClickAsync();
        await page.WaitForURLAsync(new Regex("evaluation=eval"));
        await Assertions.Expect(page.Locator("#evaluation-status")).ToHaveTextAsync(new Regex("^(succeeded|failed)$"), new() { Timeout = 180_000 });
        Assert.Equal("succeeded", await page.Locator("#evaluation-status").TextContentAsync());
        var evaluationId = await page.Locator("#evaluation").GetAttributeAsync("data-id");
        var evaluation = await api.GetFromJsonAsync<JsonElement>($"/api/evaluations/{evaluationId}", Ct);
        var testLoss = evaluation.GetProperty("metrics").GetProperty("test_loss").GetDouble();
        await Assertions.Expect(page.Locator("#evaluation-metrics")).ToContainTextAsync("test_loss");
        await Assertions.Expect(page.Locator("#evaluation-metrics")).ToContainTextAsync("exact_match");
        Assert.True(testLoss > 0);
        await page.Locator("#samples").ScrollIntoViewIfNeededAsync();
        await ScreenshotAsync(page, "job-samples");

        // Opened again later, the page lists the model's evaluations with their metrics; each links to its own view.
        await page.GotoAsync($"/jobs/{id}");
        var row = page.Locator($"#evaluations-table tr[data-id='{evaluationId}']");
        await Assertions.Expect(row).ToContainTextAsync(data);
        await Assertions.Expect(row).ToContainTextAsync("succeeded");
        await Assertions.Expect(page.Locator("#evaluations-table thead")).ToContainTextAsync("test_loss");
        await row.GetByRole(AriaRole.Link).ClickAsync();
        await Assertions.Expect(page.Locator("#evaluation")).ToHaveAttributeAsync("data-id", evaluationId!);

        // The final model registered itself; a chosen checkpoint becomes the model's next version on request.
        var result = await api.GetFromJsonAsync<JsonElement>($"/api/jobs/{id}", Ct);
        var model = result.GetProperty("result_model").GetProperty("name").GetString()!;
        var step = await page.GetByLabel("Checkpoint", new() { Exact = true }).InputValueAsync();
        await Assertions.Expect(page.GetByLabel("Register as model")).ToHaveValueAsync(model);
        await page.GetByRole(AriaRole.Button, new() { Name = "Register checkpoint" }).ClickAsync();
        await Assertions.Expect(page.Locator("p.notice")).ToHaveTextAsync($"Registered the checkpoint at step {step} as {model}@2.");
        var registered = await api.GetFromJsonAsync<JsonElement>($"/api/models/{model}", Ct);
        var version = registered.GetProperty("versions").EnumerateArray().Single(v => v.GetProperty("version").GetInt32() == 2);
        Assert.Equal("checkpoint", version.GetProperty("source").GetString());
    }

    [Fact]
    public async Task An_alert_is_listed_open_until_acknowledged_and_webhooks_are_added_listed_as_signed_and_deleted()
    {
        using var api = Api();
        // The cheapest real alert: a job that ends raises job_finished for itself.
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "alerts", examples: 16);
        var id = await CreateTinyJobAsync(api, data, steps: 2, []);
        await WaitForSuccessAsync(api, id);
        var alertId = await WaitForAlertAsync(api, "job_finished", id);

        var page = await SignedInPageAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Alerts", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Alerts");
        await page.GetByLabel("Kind", new() { Exact = true }).SelectOptionAsync("job_finished");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show", Exact = true }).ClickAsync();
        var row = page.Locator($"#alerts tr[data-alert='{alertId}']");
        await Assertions.Expect(row).ToContainTextAsync("job_finished");
        await Assertions.Expect(row.Locator("td[data-label=Job] a")).ToHaveTextAsync(id);
        await Assertions.Expect(row.Locator("td[data-label=Severity]")).ToHaveTextAsync("info");
        await ScreenshotAsync(page, "alerts");

        await row.GetByRole(AriaRole.Button, new() { Name = $"Acknowledge alert {alertId}" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync($"Alert {alertId} acknowledged");
        await Assertions.Expect(page.Locator($"#alerts tr[data-alert='{alertId}']")).ToHaveCountAsync(0);
        await page.GetByLabel("Show", new() { Exact = true }).SelectOptionAsync("all");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator($"#alerts tr[data-alert='{alertId}'] td[data-label=State]")).ToContainTextAsync("Acknowledged by");
        var acknowledged = await api.GetFromJsonAsync<JsonElement>("/api/alerts/?acknowledged=true&kind=job_finished&limit=500", Ct);
        Assert.Contains(acknowledged.GetProperty("data").EnumerateArray(), a => a.GetProperty("id").GetInt64() == alertId);

        // A URL the API refuses: its message next to the URL field, and what was typed is kept.
        var url = $"https://hooks.example.invalid/{DatasetsApiTests.UniqueName("hook")}";
        await page.GetByLabel("URL", new() { Exact = true }).FillAsync("not a url");
        await page.GetByLabel("job_failed").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add webhook" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-error-for='url']")).ToContainTextAsync("url must be an absolute http or https URL");
        await Assertions.Expect(page.GetByLabel("URL", new() { Exact = true })).ToHaveAttributeAsync("aria-invalid", "true");
        await Assertions.Expect(page.GetByLabel("job_failed")).ToBeCheckedAsync();

        await page.GetByLabel("URL", new() { Exact = true }).FillAsync(url);
        await page.GetByLabel("nan_loss").CheckAsync();
        await page.GetByLabel("Secret (optional)").FillAsync("web-test-secret");
        await page.GetByRole(AriaRole.Button, new() { Name = "Add webhook" }).ClickAsync();
        var hook = page.Locator("#webhooks-table tr", new() { Has = page.GetByText(url, new() { Exact = true }) });
        await Assertions.Expect(hook.Locator("td[data-label=Signed]")).ToHaveTextAsync("signed");
        await Assertions.Expect(hook.Locator("td[data-label=Kinds]")).ToHaveTextAsync("nan_loss, job_failed");
        var hooks = await api.GetFromJsonAsync<JsonElement>("/api/alerts/webhooks", Ct);
        var stored = Assert.Single(hooks.GetProperty("data").EnumerateArray(), h => h.GetProperty("url").GetString() == url);
        Assert.True(stored.GetProperty("has_secret").GetBoolean());
        await page.Locator("#webhooks").ScrollIntoViewIfNeededAsync();
        await ScreenshotAsync(page, "alerts-webhooks");

        await page.SetViewportSizeAsync(390, 844);
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "The alerts page scrolls sideways at phone width.");
        await page.SetViewportSizeAsync(1280, 800);

        await hook.GetByRole(AriaRole.Button, new() { Name = $"Delete webhook {url}" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Status).First).ToContainTextAsync("Webhook deleted");
        await Assertions.Expect(page.Locator("#webhooks-table tr", new() { Has = page.GetByText(url, new() { Exact = true }) })).ToHaveCountAsync(0);
        hooks = await api.GetFromJsonAsync<JsonElement>("/api/alerts/webhooks", Ct);
        Assert.DoesNotContain(hooks.GetProperty("data").EnumerateArray(), h => h.GetProperty("url").GetString() == url);

        // A key that may read and train but not administer sees the alerts, and why the webhooks are not shown.
        using var created = await api.PostAsJsonAsync("/api/keys", new { name = DatasetsApiTests.UniqueName("alerts"), scopes = new[] { "read", "train" } }, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("key").GetString()!;
        var trainer = await NewPageAsync();
        await SignInAsync(trainer, key);
        await trainer.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());
        await trainer.GotoAsync("/alerts?show=all");
        await Assertions.Expect(trainer.Locator("#webhooks-error")).ToContainTextAsync("admin scope");
        await Assertions.Expect(trainer.Locator("#alerts")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task A_sweep_from_the_new_job_form_creates_a_job_per_value_and_opens_them_compared()
    {
        using var api = Api();
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "sweep", examples: 16);
        var page = await SignedInPageAsync();
        await page.GotoAsync("/jobs/new");
        await page.GetByLabel("A sweep").CheckAsync();
        await page.GetByLabel("Base model").SelectOptionAsync("starter");
        await page.GetByLabel("Full fine-tune").CheckAsync();
        await page.GetByLabel("Training data").SelectOptionAsync(data);
        await page.GetByLabel("Model name (suffix)").FillAsync(DatasetsApiTests.UniqueName("sweep"));
        await page.GetByLabel("Max steps").FillAsync("4");
        await page.GetByLabel("Batch size").FillAsync("2");
        await page.GetByLabel("Max length").FillAsync("64");

        // A value the API refuses: its message next to the swept field, and the form keeps what was typed.
        await page.GetByLabel("Rates to try (learning_rate)").FillAsync("0.001, -1");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create sweep" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-error-for='parameters.learning_rate']")).ToContainTextAsync("learning_rate must be a positive number");
        await Assertions.Expect(page.GetByLabel("Rates to try (learning_rate)")).ToHaveValueAsync("0.001, -1");
        await Assertions.Expect(page.GetByLabel("Rates to try (learning_rate)")).ToHaveAttributeAsync("aria-invalid", "true");
        await ScreenshotAsync(page, "new-job-sweep");

        await page.GetByLabel("Rates to try (learning_rate)").FillAsync("0.001, 0.0005");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create sweep" }).ClickAsync();
        await page.WaitForURLAsync(new Regex("/compare\\?ids="));
        var sweepId = Regex.Match(page.Url, "sweep=([0-9a-f-]{36})").Groups[1].Value;
        Assert.NotEmpty(sweepId);

        // One job per value, as the API has the sweep, all of them compared.
        var sweep = await api.GetFromJsonAsync<JsonElement>($"/api/sweeps/{sweepId}", Ct);
        var jobs = sweep.GetProperty("jobs").EnumerateArray().ToList();
        try
        {
            Assert.Equal(2, jobs.Count);
            Assert.Equal([0.0005, 0.001], jobs.Select(j => j.GetProperty("hyperparameters").GetProperty("learning_rate").GetDouble()).Order());
            await Assertions.Expect(page.Locator("#sweep-summary")).ToContainTextAsync("2 jobs");
            foreach (var job in jobs)
            {
                var id = job.GetProperty("id").GetString()!;
                await Assertions.Expect(page.GetByLabel(id)).ToBeCheckedAsync();
                await Assertions.Expect(page.Locator($"#compare-train_loss")).ToBeVisibleAsync();
            }
            await Assertions.Expect(page.Locator("#differences tr[data-key='learning_rate'] td")).ToHaveCountAsync(2);
        }
        finally
        {
            // Nothing more to learn from them: free the workers for the other tests.
            foreach (var job in jobs)
            {
                using var _ = await api.PostAsync($"/api/jobs/{job.GetProperty("id").GetString()}/cancel", null, Ct);
            }
        }
    }

    /// <summary>A tiny full fine-tune of the starter (batch 2, 64 tokens) validated on its own data, under its own model name; returns its id.</summary>
    private static async Task<string> CreateTinyJobAsync(HttpClient api, string data, int steps, JsonObject extra)
    {
        extra["batch_size"] = 2;
        var body = JobLifecycleTests.TinyJob(data, steps, extra);
        body["validation_data"] = data;
        // Its own model name: versions registered under it are this test's alone.
        body["suffix"] = DatasetsApiTests.UniqueName("runs");
        return (await JobLifecycleTests.CreateAsync(api, body)).GetProperty("id").GetString()!;
    }

    private static async Task WaitForSuccessAsync(HttpClient api, string id)
    {
        var job = await JobLifecycleTests.WaitForAsync(api, id, TimeSpan.FromMinutes(4), Finished);
        Assert.True(job.GetProperty("status").GetString() == "succeeded", $"Job {id} did not succeed: {job}");
    }

    /// <summary>The alert a job's end raises comes just after its status: waits for it (bounded) and returns its id.</summary>
    private static async Task<long> WaitForAlertAsync(HttpClient api, string kind, string subject)
    {
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var alerts = await api.GetFromJsonAsync<JsonElement>($"/api/alerts/?kind={kind}&limit=500", Ct);
            foreach (var alert in alerts.GetProperty("data").EnumerateArray())
            {
                if (alert.GetProperty("subject").GetString() == subject)
                {
                    return alert.GetProperty("id").GetInt64();
                }
            }
            Assert.True(DateTimeOffset.UtcNow < deadline, $"No {kind} alert for {subject} within a minute.");
            await Task.Delay(500, Ct);
        }
    }
}
