using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace Assistant.EndToEnd.Tests;

/// <summary>API keys at the front door: who may call what, revocation, expiry, rate limits, and what backends see.</summary>
public sealed class AuthTests(PlatformFixture fixture)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private RunningPlatform Platform => fixture.Platform;

    /// <summary>Creates a key through the API with the admin key; returns its id and plaintext.</summary>
    private async Task<(string Id, string Key, JsonElement Body)> CreateKeyAsync(string[] scopes, DateTimeOffset? expiresAt = null, int? requestsPerMinute = null, string? name = null)
    {
        using var admin = Platform.CreateGatewayClient();
        using var response = await admin.PostAsJsonAsync("/api/keys",
            new { name = name ?? DatasetsApiTests.UniqueName("key"), scopes, expires_at = expiresAt, requests_per_minute = requestsPerMinute }, Ct);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {body}");
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!, body);
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
        return problem;
    }

    [Fact]
    public async Task Without_a_key_the_api_and_openai_routes_answer_401_problems_and_health_and_pages_stay_open()
    {
        using var anonymous = Platform.CreateGatewayClient(apiKey: null);

        using var jobs = await anonymous.GetAsync("/api/jobs", Ct);
        var problem = await ProblemAsync(jobs, HttpStatusCode.Unauthorized);
        Assert.Equal("Bearer", jobs.Headers.WwwAuthenticate.Single().Scheme);
        Assert.False(problem.TryGetProperty("error", out _));

        using var models = await anonymous.GetAsync("/v1/models", Ct);
        var openAi = await ProblemAsync(models, HttpStatusCode.Unauthorized);
        Assert.Equal("invalid_api_key", openAi.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", openAi.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(openAi.GetProperty("detail").GetString(), openAi.GetProperty("error").GetProperty("message").GetString());

        using var generate = await anonymous.PostAsJsonAsync("/generate", new { prompt = "hi" }, Ct);
        await ProblemAsync(generate, HttpStatusCode.Unauthorized);

        foreach (var open in new[] { "/api/health", "/health", "/alive", "/" })
        {
            using var response = await anonymous.GetAsync(open, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{open}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task A_malformed_foreign_or_unknown_key_is_a_401_and_says_nothing_about_the_resource()
    {
        using var anonymous = Platform.CreateGatewayClient(apiKey: null);
        var unknown = "asst_" + new string('A', 43);
        var cases = new (string? Scheme, string Value)[] { ("Basic", "dXNlcjpwYXNz"), ("Bearer", "sk-proj-not-ours"), ("Bearer", unknown), ("Bearer", "") };
        foreach (var (scheme, value) in cases)
        {
            foreach (var path in new[] { "/api/jobs/ftjob-000000000000000000000000", "/api/no-such-thing", "/api/jobs" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.TryAddWithoutValidation("Authorization", $"{scheme} {value}".Trim());
                using var response = await anonymous.SendAsync(request, Ct);
                await ProblemAsync(response, HttpStatusCode.Unauthorized);
            }
        }

        // With a valid key the same unknown route is the API's own 404.
        using var admin = Platform.CreateGatewayClient();
        using var missing = await admin.GetAsync("/api/no-such-thing", Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Each_scope_reaches_what_it_should_and_is_refused_the_rest_with_403()
    {
        var (_, read, _) = await CreateKeyAsync(["read"]);
        var (_, train, _) = await CreateKeyAsync(["train"]);
        var (_, infer, _) = await CreateKeyAsync(["infer"]);
        using var asRead = Platform.CreateGatewayClient(read);
        using var asTrain = Platform.CreateGatewayClient(train);
        using var asInfer = Platform.CreateGatewayClient(infer);
        using var asAdmin = Platform.CreateGatewayClient();

        Assert.Equal(HttpStatusCode.OK, (await asRead.GetAsync("/api/jobs", Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await asRead.GetAsync("/api/datasets", Ct)).StatusCode);
        int jobsBefore;
        await using (var db = await Platform.OpenDbAsync()) jobsBefore = await db.Jobs.CountAsync(Ct);
        using (var refused = await asRead.PostAsJsonAsync("/api/jobs", JobLifecycleTests.TinyJob("anything@1", steps: 1), Ct))
        {
            var problem = await ProblemAsync(refused, HttpStatusCode.Forbidden);
            Assert.Contains("'train'", problem.GetProperty("detail").GetString());
        }
        await using (var db = await Platform.OpenDbAsync()) Assert.Equal(jobsBefore, await db.Jobs.CountAsync(Ct));
        await ProblemAsync(await asRead.GetAsync("/v1/models", Ct), HttpStatusCode.Forbidden);

        // train implies read, and may start (and cancel) a job; keys stay an admin matter.
        var data = await JobLifecycleTests.UploadConversationsAsync(asTrain, "authjob", examples: 8);
        var job = await JobLifecycleTests.CreateAsync(asTrain, JobLifecycleTests.TinyJob(data, steps: 1));
        (await asTrain.PostAsync($"/api/jobs/{job.GetProperty("id").GetString()}/cancel", null, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.OK, (await asTrain.GetAsync("/api/jobs", Ct)).StatusCode);
        await ProblemAsync(await asTrain.GetAsync("/api/keys", Ct), HttpStatusCode.Forbidden);
        await ProblemAsync(await asTrain.PostAsync("/api/queue/pause", null, Ct), HttpStatusCode.Forbidden);

        using (var models = await asInfer.GetAsync("/v1/models", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        }
        await ProblemAsync(await asInfer.GetAsync("/api/jobs", Ct), HttpStatusCode.Forbidden);
        using (var wrongScope = await asRead.PostAsJsonAsync("/v1/chat/completions", new { model = "x", messages = Array.Empty<object>() }, Ct))
        {
            var problem = await ProblemAsync(wrongScope, HttpStatusCode.Forbidden);
            Assert.Equal("insufficient_scope", problem.GetProperty("error").GetProperty("code").GetString());
        }

        foreach (var path in new[] { "/api/jobs", "/api/keys", "/api/alerts/webhooks", "/api/workers", "/v1/models" })
        {
            using var response = await asAdmin.GetAsync(path, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task A_revoked_key_is_refused_on_the_very_next_request()
    {
        var (id, key, _) = await CreateKeyAsync(["read"]);
        using var caller = Platform.CreateGatewayClient(key);
        Assert.Equal(HttpStatusCode.OK, (await caller.GetAsync("/api/jobs", Ct)).StatusCode); // cached now

        using var admin = Platform.CreateGatewayClient();
        using var revoked = await admin.DeleteAsync($"/api/keys/{id}", Ct);
        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        var body = await revoked.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(JsonValueKind.String, body.GetProperty("revoked_at").ValueKind);

        using var refused = await caller.GetAsync("/api/jobs", Ct);
        var problem = await ProblemAsync(refused, HttpStatusCode.Unauthorized);
        Assert.Contains("revoked", problem.GetProperty("detail").GetString());
        // Revoking again is harmless and keeps the first time.
        using var again = await admin.DeleteAsync($"/api/keys/{id}", Ct);
        Assert.Equal(body.GetProperty("revoked_at").GetString(), (await again.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("revoked_at").GetString());
    }

    [Fact]
    public async Task An_expired_key_is_refused()
    {
        var expiresAt = DateTimeOffset.UtcNow.AddSeconds(3);
        var (_, key, _) = await CreateKeyAsync(["read"], expiresAt: expiresAt);
        using var caller = Platform.CreateGatewayClient(key);
        Assert.Equal(HttpStatusCode.OK, (await caller.GetAsync("/api/jobs", Ct)).StatusCode);

        await Task.Delay(expiresAt - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(200), Ct);

        var problem = await ProblemAsync(await caller.GetAsync("/api/jobs", Ct), HttpStatusCode.Unauthorized);
        Assert.Contains("expired", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task The_key_is_shown_once_and_never_in_lists_or_the_database()
    {
        var (id, key, created) = await CreateKeyAsync(["read", "infer"], requestsPerMinute: 100, name: "ci pipeline (nightly) ✓");
        Assert.Equal("api_key", created.GetProperty("object").GetString());
        Assert.StartsWith("asst_", key);
        Assert.Equal(48, key.Length);
        Assert.Equal(key[..12], created.GetProperty("prefix").GetString());
        Assert.Equal(["read", "infer"], created.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(100, created.GetProperty("requests_per_minute").GetInt32());
        Assert.False(created.GetProperty("bootstrap").GetBoolean());

        using var admin = Platform.CreateGatewayClient();
        var listText = await admin.GetStringAsync("/api/keys", Ct);
        var oneText = await admin.GetStringAsync($"/api/keys/{id}", Ct);
        Assert.DoesNotContain(key, listText);
        Assert.DoesNotContain(key, oneText);
        Assert.DoesNotContain(Platform.Secrets.AdminApiKey, listText);
        var list = JsonDocument.Parse(listText).RootElement;
        Assert.Equal("list", list.GetProperty("object").GetString());
        Assert.All(list.GetProperty("data").EnumerateArray(), k => Assert.False(k.TryGetProperty("key", out _)));
        Assert.Equal("ci pipeline (nightly) ✓", JsonDocument.Parse(oneText).RootElement.GetProperty("name").GetString());

        await using var db = await Platform.OpenDbAsync();
        var row = await db.ApiKeys.SingleAsync(k => k.Id == Guid.Parse(id), Ct);
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(key)), row.Hash);
    }

    [Fact]
    public async Task Creating_a_key_with_a_bad_field_is_a_400_naming_it_and_writes_nothing()
    {
        using var admin = Platform.CreateGatewayClient();
        await using var db = await Platform.OpenDbAsync();
        var before = await db.ApiKeys.CountAsync(Ct);
        var cases = new (string Body, string Param)[]
        {
            ("""{"scopes":["read"]}""", "name"),
            ($$"""{"name":"{{new string('x', 101)}}","scopes":["read"]}""", "name"),
            ("""{"name":"n","scopes":[]}""", "scopes"),
            ("""{"name":"n","scopes":["read","root"]}""", "scopes"),
            ("""{"name":"n","scopes":"read"}""", "scopes"),
            ("""{"name":"n","scopes":["read"],"expires_at":"2001-01-01T00:00:00Z"}""", "expires_at"),
            ("""{"name":"n","scopes":["read"],"expires_at":"tomorrow"}""", "expires_at"),
            ("""{"name":"n","scopes":["read"],"requests_per_minute":0}""", "requests_per_minute"),
            ("""{"name":"n","scopes":["read"],"requests_per_minute":1.5}""", "requests_per_minute"),
            ("""{"name":"n","scopes":["read"],"owner":"me"}""", "owner"),
            ("""not json""", "body"),
        };
        foreach (var (body, param) in cases)
        {
            using var response = await admin.PostAsync("/api/keys", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), Ct);
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{body}: {(int)response.StatusCode}");
            Assert.Equal(param, await PlatformAccess.ProblemParamAsync(response));
        }
        Assert.Equal(before, await db.ApiKeys.CountAsync(Ct));

        await ProblemAsync(await admin.GetAsync($"/api/keys/{Guid.NewGuid()}", Ct), HttpStatusCode.NotFound);
        await ProblemAsync(await admin.DeleteAsync($"/api/keys/{Guid.NewGuid()}", Ct), HttpStatusCode.NotFound);
        await ProblemAsync(await admin.GetAsync("/api/keys/not-an-id", Ct), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_bootstrap_key_cannot_be_revoked_through_the_api()
    {
        using var admin = Platform.CreateGatewayClient();
        var keys = await admin.GetFromJsonAsync<JsonElement>("/api/keys", Ct);
        var bootstrap = keys.GetProperty("data").EnumerateArray()
            .Single(k => k.GetProperty("bootstrap").GetBoolean() && k.GetProperty("revoked_at").ValueKind == JsonValueKind.Null);
        Assert.Equal(["admin"], bootstrap.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));

        using var refused = await admin.DeleteAsync($"/api/keys/{bootstrap.GetProperty("id").GetString()}", Ct);

        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("id", await PlatformAccess.ProblemParamAsync(refused));
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/keys", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_key_over_its_rate_gets_429_with_retry_after()
    {
        // 2 a minute: a bucket of one token, refilled every 30 s.
        var (_, key, _) = await CreateKeyAsync(["read", "infer"], requestsPerMinute: 2);
        using var caller = Platform.CreateGatewayClient(key);

        Assert.Equal(HttpStatusCode.OK, (await caller.GetAsync("/api/jobs", Ct)).StatusCode);
        using var limited = await caller.GetAsync("/api/jobs", Ct);
        await ProblemAsync(limited, HttpStatusCode.TooManyRequests);
        Assert.InRange(limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 30);
        using var limitedOpenAi = await caller.GetAsync("/v1/models", Ct);
        var problem = await ProblemAsync(limitedOpenAi, HttpStatusCode.TooManyRequests);
        Assert.Equal("rate_limit_exceeded", problem.GetProperty("error").GetProperty("code").GetString());

        // Other keys are not affected.
        using var admin = Platform.CreateGatewayClient();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/jobs", Ct)).StatusCode);
    }

    [Fact]
    public async Task Backends_see_the_key_id_and_name_never_the_key_and_record_the_caller()
    {
        var (id, key, _) = await CreateKeyAsync(["train"], name: "uploader bot");
        using var caller = Platform.CreateGatewayClient(key);
        // A caller cannot pass itself off as another key.
        caller.DefaultRequestHeaders.Add("X-Api-Key-Id", Guid.NewGuid().ToString());

        var whoami = await caller.GetFromJsonAsync<JsonElement>("/api/whoami", Ct);
        Assert.Equal(id, whoami.GetProperty("key_id").GetString());
        Assert.Equal("uploader bot", whoami.GetProperty("key_name").GetString());
        Assert.False(whoami.GetProperty("credentials_forwarded").GetBoolean());

        var name = DatasetsApiTests.UniqueName("authdata");
        using var upload = await DatasetsApiTests.UploadAsync(caller, name, "d.jsonl", DatasetsApiTests.Chat("Q?", "A."));
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var version = await upload.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.Equal(id, version.GetProperty("created_by").GetString());

        // Use is recorded off the request path, within seconds.
        using var admin = Platform.CreateGatewayClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        JsonElement row;
        do
        {
            row = await admin.GetFromJsonAsync<JsonElement>($"/api/keys/{id}", Ct);
            if (row.GetProperty("last_used_at").ValueKind == JsonValueKind.String) break;
            await Task.Delay(500, Ct);
        } while (DateTime.UtcNow < deadline);
        Assert.Equal(JsonValueKind.String, row.GetProperty("last_used_at").ValueKind);
    }

    [Fact]
    public async Task The_cli_says_in_one_line_that_the_gateway_refused_its_key()
    {
        using var gateway = Platform.CreateGatewayClient(apiKey: null);
        var url = gateway.BaseAddress!.ToString();
        var (_, read, _) = await CreateKeyAsync(["read"]);

        var unknown = await CliTests.RunAsync("jobs", "list", "--gateway", url, "--api-key", "asst_" + new string('B', 43));
        Assert.Equal(1, unknown.Exit);
        Assert.Equal("The gateway refused the API key: The API key is not valid; set ASSISTANT_API_KEY or --api-key.", unknown.Error.Trim());

        var lacking = await CliTests.RunAsync("models", "alias", "starter@1", "staging", "--gateway", url, "--api-key", read);
        Assert.Equal(1, lacking.Exit);
        Assert.Single(lacking.Error.Trim().Split('\n'));
        Assert.Matches("^The gateway refused the API key: .*needs 'train'; set ASSISTANT_API_KEY or --api-key\\.$", lacking.Error.Trim());

        // Status reads only the health report (no infer scope needed): inference replicas included.
        var status = await CliTests.RunAsync("status", "--gateway", url, "--api-key", read);
        Assert.Equal(0, status.Exit);
        Assert.Matches("(?m)^  inference +up +2 replica\\(s\\)", status.Output);
    }

    [Fact]
    public async Task Every_api_route_declares_its_scope_in_the_table_the_gateway_enforces()
    {
        using var admin = Platform.CreateGatewayClient();

        var table = await admin.GetFromJsonAsync<JsonElement>("/api/scopes", Ct);

        var rows = table.GetProperty("data").EnumerateArray().ToList();
        Assert.Contains(rows, r => r.GetProperty("route").GetString() == "/api/jobs/{id}/cancel" && r.GetProperty("scope").GetString() == "train");
        Assert.Contains(rows, r => r.GetProperty("route").GetString() == "/api/health" && r.GetProperty("scope").GetString() == "none");
        Assert.All(rows, r => Assert.True(r.GetProperty("scope").ValueKind == JsonValueKind.String,
            $"{r.GetProperty("method")} {r.GetProperty("route")} declares no scope: add RequireScope (or AllowWithoutKey)"));
    }

    [Fact]
    public async Task The_keys_verb_creates_a_key_shown_once_lists_it_and_revokes_it()
    {
        using var gateway = Platform.CreateGatewayClient(apiKey: null);
        var url = gateway.BaseAddress!.ToString();
        var name = $"cli-{Guid.NewGuid():N}"[..16];

        var created = await CliTests.RunAsync("keys", "create", name, "--scope", "read", "--expires-in-days", "7", "--gateway", url, "--api-key", Platform.AdminApiKey);
        Assert.True(created.Exit == 0, created.Output + created.Error);
        var key = created.Output.Trim().Split('\n')[^1].Trim();
        Assert.StartsWith("asst_", key);
        var id = System.Text.RegularExpressions.Regex.Match(created.Output, "Created key ([0-9a-f-]{36})").Groups[1].Value;

        var list = await CliTests.RunAsync("keys", "list", "--gateway", url, "--api-key", Platform.AdminApiKey);
        Assert.Equal(0, list.Exit);
        Assert.Matches($"(?m)^{id} +{name} +asst_\\S* +read +active", list.Output);
        Assert.DoesNotContain(key, list.Output);
        using (var reader = Platform.CreateGatewayClient(key))
        {
            Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/api/models/", Ct)).StatusCode);
            var revoked = await CliTests.RunAsync("keys", "revoke", id, "--gateway", url, "--api-key", Platform.AdminApiKey);
            Assert.True(revoked.Exit == 0, revoked.Error);
            Assert.Equal(HttpStatusCode.Unauthorized, (await reader.GetAsync("/api/models/", Ct)).StatusCode);
        }
        var unknownScope = await CliTests.RunAsync("keys", "create", name, "--scope", "root", "--gateway", url, "--api-key", Platform.AdminApiKey);
        Assert.Equal(1, unknownScope.Exit);
        Assert.Matches("^error: .*'root' is not a scope", unknownScope.Error);
    }
}
