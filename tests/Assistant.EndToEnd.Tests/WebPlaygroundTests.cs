using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;

namespace Assistant.EndToEnd.Tests;

/// <summary>
/// The playground in a real browser: a job trained through the API and deployed from its page, then chatted with by
/// version, the answer streaming into the page; and a version nobody deployed, which inference loads on demand.
/// </summary>
public sealed class WebPlaygroundTests(PlatformFixture fixture, BrowserFixture browser) : WebTest(fixture, browser), IClassFixture<BrowserFixture>
{
    /// <summary>Records every change of the last assistant bubble's text (busy or not, and its length) and of the status line.</summary>
    private const string WatchScript = """
        () => {
          window.growth = [];
          window.statuses = [];
          const conversation = document.getElementById("conversation");
          new MutationObserver(records => {
            for (const record of records) {
              const target = record.target.nodeType === Node.TEXT_NODE ? record.target.parentElement : record.target;
              if (!target.classList?.contains("bubble-text")) continue;
              const bubble = target.closest(".bubble.assistant");
              if (bubble) window.growth.push([bubble.getAttribute("aria-busy"), target.textContent.length]);
            }
          }).observe(conversation, { subtree: true, childList: true, characterData: true });
          const status = document.getElementById("chat-status");
          new MutationObserver(() => window.statuses.push(status.textContent)).observe(status, { subtree: true, childList: true, characterData: true });
        }
        """;

    [Fact]
    public async Task A_deployed_job_streams_its_answer_in_the_playground_and_a_version_nobody_deployed_answers_on_demand()
    {
        using var api = Api();
        var data = await JobLifecycleTests.UploadConversationsAsync(api, "playground", examples: 16);
        var (deployedName, otherName) = (DatasetsApiTests.UniqueName("play"), DatasetsApiTests.UniqueName("spare"));
        var ids = new List<string>();
        foreach (var name in new[] { deployedName, otherName })
        {
            var body = JobLifecycleTests.TinyJob(data, steps: 12);
            body["suffix"] = name;
            ids.Add((await JobLifecycleTests.CreateAsync(api, body)).GetProperty("id").GetString()!);
        }
        foreach (var id in ids)
        {
            var job = await JobLifecycleTests.WaitForAsync(api, id, TimeSpan.FromMinutes(4), "succeeded", "failed", "cancelled");
            Assert.True(job.GetProperty("status").GetString() == "succeeded", job.ToString());
        }

        // Deploy the first from its job page with the existing form (production).
        var page = await SignedInPageAsync();
        await page.GotoAsync($"/jobs/{ids[0]}");
        await Assertions.Expect(page.GetByLabel("Alias", new() { Exact = true })).ToHaveValueAsync("production");
        await page.GetByRole(AriaRole.Button, new() { Name = "Deploy", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("p.notice[role=status]")).ToHaveTextAsync($"Deployed: production of {deployedName} now points at version 1.");
        await ScreenshotAsync(page, "job-deployed");
        await WaitUntilServedAsync(api, deployedName, 1);

        // The picker lists every registered model's aliases and versions; choose the deployed version.
        await page.GotoAsync("/playground");
        var picker = page.GetByLabel("Model", new() { Exact = true });
        var labels = await page.Locator($"#chat-model optgroup[label='{deployedName}'] option").AllTextContentsAsync();
        Assert.Contains($"{deployedName}:production → v1", labels);
        Assert.Equal($"{deployedName}@1", labels[^1]); // aliases first, then versions
        Assert.All(labels.SkipLast(1), label => Assert.StartsWith($"{deployedName}:", label));
        await Assertions.Expect(page.Locator($"#chat-model optgroup[label='Served now'] option[value='{deployedName}']")).ToHaveCountAsync(1);
        Assert.Equal([$"{otherName}@1"], await page.Locator($"#chat-model optgroup[label='{otherName}'] option[value='{otherName}@1']").AllTextContentsAsync());
        await Assertions.Expect(page.Locator($"#chat-model option[value='{deployedName}@1']")).ToHaveAttributeAsync("data-served", "true");
        await Assertions.Expect(page.Locator($"#chat-model option[value='{otherName}@1']")).ToHaveAttributeAsync("data-served", "false");
        await picker.SelectOptionAsync($"{deployedName}@1");
        await page.GetByLabel("Max tokens").FillAsync("64");
        await page.EvaluateAsync(WatchScript);
        await page.GetByLabel("Message").FillAsync("How do I reset password 3?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        await page.WaitForFunctionAsync("() => window.growth.some(g => g[0] === 'true' && g[1] > 0)");
        await ScreenshotAsync(page, "playground-streaming");
        var answer = page.Locator(".bubble.assistant").Last;
        await Assertions.Expect(answer).ToHaveAttributeAsync("aria-busy", "false", new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#chat-error")).ToBeHiddenAsync();
        var final = (await answer.Locator(".bubble-text").TextContentAsync())!;
        Assert.False(string.IsNullOrWhiteSpace(final), "The assistant's reply is empty.");
        var growth = await page.EvaluateAsync<JsonElement>("() => window.growth");
        var whileBusy = growth.EnumerateArray().Where(g => g[0].GetString() == "true").Select(g => g[1].GetInt32()).ToList();
        Assert.True(whileBusy.Count > 1, $"The reply arrived in {whileBusy.Count} update(s), not streamed: {growth}");
        Assert.True(whileBusy.Zip(whileBusy.Skip(1)).All(p => p.Second >= p.First) && whileBusy[^1] <= final.Length, $"The reply did not only grow: {growth}");
        Assert.Contains($"Waiting for {deployedName}@1…", await page.EvaluateAsync<string[]>("() => window.statuses")); // served: nothing to load

        // A version nobody deployed: the page says it is loading it, then it answers too.
        await page.GetByRole(AriaRole.Button, new() { Name = "New conversation" }).ClickAsync();
        await picker.SelectOptionAsync($"{otherName}@1");
        await page.EvaluateAsync(WatchScript);
        await page.GetByLabel("Message").FillAsync("How do I reset password 5?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        answer = page.Locator(".bubble.assistant").Last;
        await Assertions.Expect(answer).ToHaveAttributeAsync("aria-busy", "false", new() { Timeout = 90_000 });
        await Assertions.Expect(page.Locator("#chat-error")).ToBeHiddenAsync();
        Assert.False(string.IsNullOrWhiteSpace(await answer.Locator(".bubble-text").TextContentAsync()), "The on-demand version's reply is empty.");
        Assert.Contains($"Loading {otherName}@1…", await page.EvaluateAsync<string[]>("() => window.statuses"));
        await Assertions.Expect(page.Locator("#chat-status")).ToBeEmptyAsync();
        await ScreenshotAsync(page, "playground-answer");

        // A version the registry does not have: the API's 404, in words, and the question stays in the box to send again.
        await page.EvaluateAsync($"() => {{ const o = document.createElement('option'); o.value = o.textContent = '{otherName}@9'; document.getElementById('chat-model').append(o); }}");
        await picker.SelectOptionAsync($"{otherName}@9");
        await page.GetByLabel("Message").FillAsync("Still there?");
        await page.GetByRole(AriaRole.Button, new() { Name = "Send" }).ClickAsync();
        await Assertions.Expect(page.Locator("#chat-error")).ToContainTextAsync($"Unknown model: The model '{otherName}@9' does not exist");
        await Assertions.Expect(page.GetByLabel("Message")).ToHaveValueAsync("Still there?");
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "The playground scrolls sideways.");

        // At phone width the picker and the conversation fit the screen.
        var phone = await NewPageAsync(width: 390, height: 844);
        await SignInAsync(phone, Platform.AdminApiKey);
        await phone.WaitForURLAsync(new Uri(BaseAddress, "/").ToString());
        await phone.GotoAsync("/playground");
        await Assertions.Expect(phone.GetByLabel("Model", new() { Exact = true })).ToBeVisibleAsync();
        Assert.True(await phone.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), "The playground scrolls sideways at phone width.");
    }

    /// <summary>Waits until every live inference replica serves <paramref name="name"/>@<paramref name="version"/> for production.</summary>
    private static async Task WaitUntilServedAsync(HttpClient api, string name, int version)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        JsonElement state = default;
        while (DateTime.UtcNow < deadline)
        {
            var deployments = await api.GetFromJsonAsync<JsonElement>("/api/deployments", Ct);
            state = deployments.GetProperty("data").EnumerateArray()
                .FirstOrDefault(d => d.GetProperty("model").GetString() == name && d.GetProperty("alias").GetString() == "production");
            if (state.ValueKind == JsonValueKind.Object && state.GetProperty("version").GetInt32() == version && state.GetProperty("converged").GetBoolean()) return;
            await Task.Delay(250, Ct);
        }
        Assert.Fail($"{name}@{version} is not served by every replica after 90 s: {state}");
    }
}
