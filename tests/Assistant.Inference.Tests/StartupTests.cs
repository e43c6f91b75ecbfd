using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>How the service starts: settings checked up front, and a replica with nothing to serve says so.</summary>
public class StartupTests
{
    [Fact]
    public void Without_a_model_folder_it_needs_the_registry_and_says_which_connection_is_missing()
    {
        var error = Assert.Throws<InvalidOperationException>(() => InferenceServer.Build(new Dictionary<string, string?>()));
        Assert.Contains("ConnectionStrings:assistantdb", error.Message);
        Assert.Contains("Inference:ModelFolder", error.Message);
    }

    [Fact]
    public async Task Settings_out_of_range_stop_the_start_naming_the_setting()
    {
        using var temp = new TempFolder();
        await using var app = InferenceServer.Build(new Dictionary<string, string?>
        {
            ["Inference:ModelFolder"] = temp.Path,
            ["Inference:MaxBatch"] = "9",
            ["Inference:QueueLimit"] = "-1",
        });
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(Cancel));
        Assert.Contains("Inference:MaxBatch", error.Message);
        Assert.Contains("Inference:QueueLimit", error.Message);
    }

    [Fact]
    public async Task A_folder_that_cannot_load_leaves_the_replica_unready_with_the_error_and_requests_get_503()
    {
        using var temp = new TempFolder();
        File.WriteAllText(Path.Combine(temp.Path, "config.json"), "{\"model_type\": \"llama\"}");
        await using var app = InferenceServer.Build(new Dictionary<string, string?> { ["Inference:ModelFolder"] = temp.Path, ["Inference:ModelName"] = "broken" });
        await app.StartAsync(Cancel);
        var address = app.Urls.First();
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        var host = (Serving.ModelHost)app.Services.GetService(typeof(Serving.ModelHost))!;
        await Wait.UntilAsync(() => host.IsResolved, "the load attempt ends");

        using var health = await client.GetAsync("/health", Cancel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        var model = JsonDocument.Parse(await health.Content.ReadAsStringAsync(Cancel)).RootElement.GetProperty("models")[0];
        Assert.Equal(("broken", "failed"), (model.GetProperty("name").GetString(), model.GetProperty("state").GetString()));
        Assert.Contains("config.json", model.GetProperty("error").GetString());

        var (chat, error) = await PostAsync(client, "/v1/chat/completions", new { model = "broken", messages = new[] { new { role = "user", content = "hi" } } });
        OpenAiError(chat, error, 503, null, "model_not_deployed", type: "server_error");
        var (generate, _) = await PostAsync(client, "/generate", new { prompt = "hi" });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, generate.StatusCode);
        Assert.Equal("application/problem+json", generate.Content.Headers.ContentType?.MediaType);
        var models = JsonDocument.Parse(await client.GetStringAsync("/v1/models", Cancel)).RootElement;
        Assert.Equal(0, models.GetProperty("data").GetArrayLength());
        await app.StopAsync(Cancel);
    }
}
