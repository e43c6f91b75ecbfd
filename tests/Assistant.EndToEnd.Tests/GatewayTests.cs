using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Assistant.EndToEnd.Tests;

/// <summary>What a new user sees through the one front door.</summary>
public sealed class GatewayTests(PlatformFixture fixture)
{
    [Fact]
    public async Task Api_health_reports_every_dependency_reachable()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var response = await gateway.GetAsync("/api/health", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var report = await response.Content.ReadFromJsonAsync<JsonDocument>(TestContext.Current.CancellationToken);
        var root = report!.RootElement;
        Assert.Equal("ok", root.GetProperty("status").GetString());
        foreach (var dependency in new[] { "postgres", "redis", "s3" })
        {
            Assert.Equal("ok", root.GetProperty("dependencies").GetProperty(dependency).GetProperty("status").GetString());
        }
        Assert.StartsWith("0.", root.GetProperty("version").GetString());
    }

    [Fact]
    public async Task Trainers_register_themselves_and_heartbeat()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var report = await gateway.GetFromJsonAsync<JsonDocument>("/api/health", TestContext.Current.CancellationToken);

        // Every replica registers; one may be gone if a crash test killed it earlier in the run (nothing restarts it).
        var alive = report!.RootElement.GetProperty("workers").EnumerateArray().Where(w => w.GetProperty("alive").GetBoolean()).ToList();
        Assert.InRange(alive.Count, 1, RunningPlatform.TrainerReplicas);
        Assert.All(alive, worker =>
        {
            Assert.Contains(worker.GetProperty("state").GetString(), new[] { "idle", "busy" });
            Assert.True(DateTimeOffset.UtcNow - worker.GetProperty("last_heartbeat_at").GetDateTimeOffset() < TimeSpan.FromMinutes(1));
        });
    }

    [Fact]
    public async Task Models_list_answers_in_the_openai_shape()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var models = await gateway.GetFromJsonAsync<JsonDocument>("/v1/models", TestContext.Current.CancellationToken);

        // Other tests deploy models (ServingTests): whatever is served, each entry is an OpenAI model object.
        Assert.Equal("list", models!.RootElement.GetProperty("object").GetString());
        Assert.All(models.RootElement.GetProperty("data").EnumerateArray(), m =>
        {
            Assert.Equal("model", m.GetProperty("object").GetString());
            Assert.Equal("assistant", m.GetProperty("owned_by").GetString());
            // A followed model is listed by name, a version loaded on demand by name@N (PlaygroundTests); root is always name@N.
            var (id, root) = (m.GetProperty("id").GetString()!, m.GetProperty("root").GetString()!);
            Assert.Matches(@"^[^@]+@\d+$", root);
            Assert.True(root == id || root.StartsWith(id + "@", StringComparison.Ordinal), $"{id} has root {root}");
            Assert.EndsWith($"@{m.GetProperty("version").GetInt32()}", root);
        });
    }

    [Fact]
    public async Task Generate_with_bad_input_or_a_model_not_served_is_a_problem_not_an_error()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();
        var ct = TestContext.Current.CancellationToken;

        using var invalid = await gateway.PostAsJsonAsync("/generate", new { prompt = "hello", max_length = 0 }, ct);
        using var unknown = await gateway.PostAsJsonAsync("/generate", new { prompt = "hello", max_length = 8, model = "no-such-model" }, ct);

        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Equal("application/problem+json", invalid.Content.Headers.ContentType?.MediaType);
        Assert.Equal("max_length", await PlatformAccess.ProblemParamAsync(invalid));
        // 404 when other models are served, 503 when none is deployed yet: a problem either way, never a crash.
        Assert.Contains(unknown.StatusCode, new[] { HttpStatusCode.NotFound, HttpStatusCode.ServiceUnavailable });
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Web_pages_without_a_session_send_the_visitor_to_sign_in()
    {
        using var gateway = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = fixture.Platform.CreateGatewayClient().BaseAddress };

        using var response = await gateway.GetAsync("/", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.Equal("/signin", location.AbsolutePath);
        Assert.Equal(gateway.BaseAddress!.Authority, location.Authority); // back through the gateway, not to the web app's own port
    }

    [Fact]
    public async Task Status_page_renders_the_live_status_of_every_service_and_the_version()
    {
        using var web = await WebSession.SignInAsync(fixture.Platform, TestContext.Current.CancellationToken);

        var html = await web.GetStringAsync("/status", TestContext.Current.CancellationToken);

        Assert.Contains("<h1>Platform status</h1>", html);
        foreach (var service in new[] { "Gateway", "Training API", "PostgreSQL", "Redis", "S3 object store", "Trainer" })
        {
            Assert.Matches($"data-service=\"{service}\">\\s*<th scope=\"row\">{service}</th>\\s*<td[^>]*>[^<]*</td>\\s*<td[^>]*><span class=\"pill up\">", html);
        }
        // The session's key (admin) may read the model list too.
        Assert.Matches("data-service=\"Inference\">\\s*<th scope=\"row\">Inference</th>\\s*<td[^>]*>[^<]*</td>\\s*<td[^>]*><span class=\"pill up\">up</span></td>\\s*<td[^>]*>\\d+ model\\(s\\) deployed</td>", html);
        Assert.DoesNotContain("pill down", html);
        Assert.Matches("data-testid=\"platform-version\">0\\.", html);
    }

    [Fact]
    public async Task Status_page_handler_serves_the_same_status_as_json()
    {
        using var web = await WebSession.SignInAsync(fixture.Platform, TestContext.Current.CancellationToken);

        using var status = await web.GetFromJsonAsync<JsonDocument>("/status?handler=Status", TestContext.Current.CancellationToken);

        var services = status!.RootElement.GetProperty("services").EnumerateArray().ToList();
        Assert.Equal(7, services.Count);
        Assert.All(services, s => Assert.True(s.GetProperty("up").GetBoolean(), s.GetProperty("name").GetString()));
        Assert.All(services, s => Assert.False(s.GetProperty("needsKey").GetBoolean(), s.GetProperty("name").GetString()));
    }

    [Fact]
    public async Task Unknown_api_route_is_a_404_from_the_api_not_the_web_app()
    {
        using var gateway = fixture.Platform.CreateGatewayClient();

        using var response = await gateway.GetAsync("/api/no-such-thing", TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
