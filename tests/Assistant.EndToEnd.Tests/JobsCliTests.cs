using System.Net.Http.Json;
using static Assistant.EndToEnd.Tests.CliTests;

namespace Assistant.EndToEnd.Tests;

/// <summary><c>assistant jobs|models|workers</c> against the running platform, as a user would type them.</summary>
public sealed class JobsCliTests(PlatformFixture fixture)
{
    [Fact]
    public async Task Jobs_create_follow_show_list_and_compare_a_run_then_see_its_model_and_the_workers()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;
        var data = await JobLifecycleTests.UploadConversationsAsync(gateway, "clijob", examples: 16);
        var suffix = DatasetsApiTests.UniqueName("clibot");

        var create = await RunAsync("jobs", "create", "--data", data, "--split", "0.75,0.25,0", "--suffix", suffix,
            "--set", "max_steps=4", "--set", "batch_size=4", "--set", "max_length=64", "--set", "eval_steps=2", "--set", "eval_samples=1",
            "--set", "max_new_tokens=4", "--follow", "--gateway", url, "--api-key", key);
        Assert.True(create.Exit == 0, create.Output + create.Error);
        var id = System.Text.RegularExpressions.Regex.Match(create.Output, @"ftjob-[0-9a-f]{24}").Value;
        Assert.StartsWith($"{id} ", create.Output);
        Assert.Matches(@"(?m)^step 4/4 \| loss \d+\.\d{4}", create.Output);   // one plain line per update off a terminal
        Assert.Matches(@"(?m)^info eval: Step 2: valid_loss \d+\.\d{4}", create.Output);
        Assert.Matches($"(?m)^succeeded; model {suffix}@1$", create.Output);

        var show = await RunAsync("jobs", "show", id, "--gateway", url, "--api-key", key);
        Assert.Equal(0, show.Exit);
        Assert.Contains("\"status\": \"succeeded\"", show.Output);

        // Scoring its model on a dataset version, followed to the metrics; then listed with the job's evaluations.
        var evaluate = await RunAsync("jobs", "evaluate", id, "--dataset", data, "--follow", "--gateway", url, "--api-key", key);
        Assert.True(evaluate.Exit == 0, evaluate.Output + evaluate.Error);
        var evaluationId = System.Text.RegularExpressions.Regex.Match(evaluate.Output, @"^(\S+) queued on ").Groups[1].Value;
        Assert.Matches(@"(?m)^succeeded: .*test_loss \d+\.\d{4}", evaluate.Output);
        var evaluations = await RunAsync("jobs", "evaluations", id, "--gateway", url, "--api-key", key);
        Assert.Matches($"(?m)^{evaluationId} succeeded +{System.Text.RegularExpressions.Regex.Escape(data)} +.*test_loss", evaluations.Output);
        var notData = await RunAsync("jobs", "evaluate", id, "--dataset", "no-such-dataset@1", "--gateway", url, "--api-key", key);
        Assert.Equal(1, notData.Exit);
        Assert.Contains("dataset", notData.Error);
        Assert.DoesNotContain("   at ", notData.Error);

        var list = await RunAsync("jobs", "list", "--status", "succeeded", "--gateway", url, "--api-key", key);
        Assert.Equal(0, list.Exit);
        Assert.Matches($"(?m)^{id} +succeeded +full +starter ", list.Output);

        var other = await JobLifecycleTests.CreateAsync(gateway, JobLifecycleTests.TinyJob(data, steps: 2, new() { ["learning_rate"] = 5e-4 }));
        var otherId = other.GetProperty("id").GetString()!;
        Assert.Equal(0, (await RunAsync("jobs", "follow", otherId, "--gateway", url, "--api-key", key)).Exit);
        var compare = await RunAsync("jobs", "compare", id, otherId, "--gateway", url, "--api-key", key);
        Assert.Equal(0, compare.Exit);
        Assert.Matches(@"(?m)^max_steps +4 +2", compare.Output);
        Assert.Matches(@"(?m)^final train_loss +\d+\.\d{4} +\d+\.\d{4}", compare.Output);

        var models = await RunAsync("models", "list", "--gateway", url, "--api-key", key);
        Assert.Matches($"(?m)^{suffix} +trained +1 ", models.Output);
        Assert.Matches("(?m)^starter +base +1 ", models.Output);
        var model = await RunAsync("models", "show", suffix, "--gateway", url, "--api-key", key);
        Assert.Contains(id, model.Output);
        Assert.Contains(data.Split('@')[0], model.Output);
        var alias = await RunAsync("models", "alias", $"{suffix}@1", "staging", "--reason", "first good run", "--gateway", url, "--api-key", key);
        Assert.Equal(0, alias.Exit);
        Assert.Contains("staging=1", (await RunAsync("models", "list", "--gateway", url, "--api-key", key)).Output);

        var workers = await RunAsync("workers", "--gateway", url, "--api-key", key);
        Assert.Equal(0, workers.Exit);
        // A crash test may have killed one replica earlier in the run: every live worker is listed, and the one that ran the job is.
        var live = workers.Output.Split('\n').Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^\S+ +(idle|busy) ")).ToList();
        Assert.InRange(live.Count, 1, RunningPlatform.TrainerReplicas);
        var ranBy = (await gateway.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/jobs/{id}", TestContext.Current.CancellationToken)).GetProperty("worker_id").GetString();
        Assert.Contains(live, l => l.StartsWith(ranBy + " ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_job_requests_and_unknown_jobs_are_one_readable_line_each()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;

        var unknownData = await RunAsync("jobs", "create", "--data", "no-such-dataset@1", "--gateway", url, "--api-key", key);
        Assert.Equal(1, unknownData.Exit);
        Assert.Contains("no-such-dataset", unknownData.Error);
        Assert.DoesNotContain("   at ", unknownData.Error);

        var badValue = await RunAsync("jobs", "create", "--data", "x@1", "--set", "batch_size", "--gateway", url, "--api-key", key);
        Assert.Equal(1, badValue.Exit);
        Assert.Contains("--set 'batch_size' is not KEY=VALUE", badValue.Error);

        var unknownJob = await RunAsync("jobs", "show", "ftjob-000000000000000000000000", "--gateway", url, "--api-key", key);
        Assert.Equal(1, unknownJob.Exit);
        Assert.StartsWith("error: ", unknownJob.Error);

        var badAlias = await RunAsync("models", "alias", "starter", "production", "--gateway", url, "--api-key", key);
        Assert.Equal(1, badAlias.Exit);
        Assert.Contains("is not NAME@VERSION", badAlias.Error);
    }

    [Fact]
    public async Task Models_import_registers_a_local_folder_as_a_base_model_and_refuses_one_that_is_not_a_model()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var url = gateway.BaseAddress!.ToString();
        var key = fixture.Platform.Secrets.AdminApiKey;
        using var folder = new ScratchDirectory();
        var model = Path.Combine(folder.Path, "mine");
        Assert.Equal(0, (await RunAsync("model", "init", "--arch", "llama", "--preset", "tiny", "--out", model, "--seed", "3")).Exit);
        var name = DatasetsApiTests.UniqueName("imported");

        var import = await RunAsync("models", "import", model, "--name", name, "--description", "brought by a user", "--gateway", url, "--api-key", key);

        Assert.True(import.Exit == 0, import.Output + import.Error);
        var registered = await gateway.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/models/{name}", TestContext.Current.CancellationToken);
        var version = registered.GetProperty("versions")[0];
        Assert.Equal("base", registered.GetProperty("kind").GetString());
        Assert.Equal($"{name}@1 registered: llama, {version.GetProperty("parameters").GetInt64()} parameters", import.Output.Trim());
        Assert.True(version.GetProperty("parameters").GetInt64() > 1_000_000);

        // A folder with no config.json is refused by the API in one readable line, and nothing is registered.
        var notAModel = Path.Combine(folder.Path, "notes");
        Directory.CreateDirectory(notAModel);
        await File.WriteAllTextAsync(Path.Combine(notAModel, "readme.txt"), "not a model", TestContext.Current.CancellationToken);
        var other = DatasetsApiTests.UniqueName("notmodel");
        var refused = await RunAsync("models", "import", notAModel, "--name", other, "--gateway", url, "--api-key", key);
        Assert.Equal(1, refused.Exit);
        Assert.StartsWith("error: ", refused.Error.Split('\n').Last(l => l.Length > 0));
        Assert.DoesNotContain("   at ", refused.Error);
        using var missing = await gateway.GetAsync($"/api/models/{other}", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
    }
}
