using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;

namespace Assistant.EndToEnd.Tests;

/// <summary>Alerts raised by the API's monitors, their acknowledgement, and webhook delivery to a real local HTTP listener.</summary>
public sealed class AlertsApiTests(PlatformFixture fixture) : IAsyncLifetime
{
    // These tests hold jobs in given states; with dispatch paused no worker claims them underneath.
    public ValueTask InitializeAsync() => fixture.Platform.PauseDispatchAsync();

    public ValueTask DisposeAsync() => fixture.Platform.ResumeDispatchAsync();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private RunningPlatform Platform => fixture.Platform;

    /// <summary>A webhook receiver on 127.0.0.1 that answers 500 to the first delivery and 200 after.</summary>
    private sealed class Receiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        public ConcurrentQueue<(int Answered, string Body, string? Signature)> Requests { get; } = new();
        public string Url { get; }

        public Receiver()
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/hook/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                var status = Requests.IsEmpty ? 500 : 200;
                Requests.Enqueue((status, body, context.Request.Headers["X-Assistant-Signature"]));
                context.Response.StatusCode = status;
                context.Response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }

    [Fact]
    public async Task A_silent_worker_raises_an_alert_that_is_delivered_signed_after_a_retry_and_can_be_acknowledged()
    {
        using var gateway = Platform.CreateGatewayClient();
        using var receiver = new Receiver();
        const string secret = "s3cret";
        using var created = await gateway.PostAsJsonAsync("/api/alerts/webhooks", new { url = receiver.Url, kinds = new[] { "worker_silent" }, secret }, Ct);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var hook = await created.Content.ReadFromJsonAsync<JsonElement>(Ct);
        Assert.True(hook.GetProperty("has_secret").GetBoolean());
        Assert.False(hook.TryGetProperty("secret", out _));

        var worker = $"silent-{Guid.NewGuid():N}"[..20];
        await using (var db = await Platform.OpenDbAsync())
        {
            db.Workers.Add(new Worker
            {
                Id = worker, Hostname = "quiet", PlatformVersion = "test", Device = "cpu", State = WorkerState.Idle,
                RegisteredAt = DateTimeOffset.UtcNow.AddHours(-2), LastHeartbeatAt = DateTimeOffset.UtcNow.AddHours(-1),
            });
            await db.SaveChangesAsync(Ct);
        }
        try
        {
            // Monitor round (10 s), first delivery answered 500, retry after 2 s answered 200.
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (receiver.Requests.Count(r => r.Body.Contains(worker)) < 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, Ct);
            }
            var deliveries = receiver.Requests.Where(r => r.Body.Contains(worker)).ToList();
            Assert.Equal([500, 200], deliveries.Select(d => d.Answered));
            foreach (var (_, body, signature) in deliveries)
            {
                var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(body)));
                Assert.Equal(expected, signature);
            }
            var payload = JsonDocument.Parse(deliveries[1].Body).RootElement;
            Assert.Equal(2, payload.GetProperty("attempt").GetInt32());
            var alert = payload.GetProperty("alert");
            Assert.Equal("worker_silent", alert.GetProperty("kind").GetString());
            Assert.Equal(worker, alert.GetProperty("worker_id").GetString());

            await using (var db = await Platform.OpenDbAsync())
            {
                var delivery = await db.WebhookDeliveries.SingleAsync(d => d.AlertId == alert.GetProperty("id").GetInt64(), Ct);
                Assert.Equal(("delivered", 2, 200), (delivery.Status, delivery.Attempts, delivery.LastStatusCode));
            }

            var id = alert.GetProperty("id").GetInt64();
            using var open = await gateway.GetFromJsonAsync<JsonDocument>("/api/alerts?kind=worker_silent&acknowledged=false", Ct);
            Assert.Contains(open!.RootElement.GetProperty("data").EnumerateArray(), a => a.GetProperty("id").GetInt64() == id);
            using var acknowledged = await gateway.PostAsync($"/api/alerts/{id}/acknowledge", null, Ct);
            Assert.True((await acknowledged.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("acknowledged").GetBoolean());
            using var stillOpen = await gateway.GetFromJsonAsync<JsonDocument>("/api/alerts?kind=worker_silent&acknowledged=false", Ct);
            Assert.DoesNotContain(stillOpen!.RootElement.GetProperty("data").EnumerateArray(), a => a.GetProperty("id").GetInt64() == id);
        }
        finally
        {
            await using var db = await Platform.OpenDbAsync();
            await db.Workers.Where(w => w.Id == worker).ExecuteUpdateAsync(s => s.SetProperty(w => w.State, WorkerState.Stopped), Ct);
            await gateway.DeleteAsync($"/api/alerts/webhooks/{hook.GetProperty("id").GetGuid()}", Ct);
        }
    }

    [Fact]
    public async Task The_reconciler_requeues_a_job_whose_worker_vanished_and_fails_it_with_an_alert_when_no_attempts_are_left()
    {
        using var gateway = Platform.CreateGatewayClient();
        var model = DatasetsApiTests.UniqueName("base");
        await PlatformAccess.ImportTinyModelAsync(gateway, model);
        var data = await PlatformAccess.UploadChatAsync(gateway);
        async Task<string> CreateAsync(int maxAttempts)
        {
            using var response = await gateway.PostAsJsonAsync("/api/jobs/", new { base_model = model, training_data = $"{data}@1", max_attempts = maxAttempts }, Ct);
            return (await response.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetString()!;
        }
        var retried = await CreateAsync(maxAttempts: 3);
        var exhausted = await CreateAsync(maxAttempts: 1);
        var abandoned = await CreateAsync(maxAttempts: 1);
        await using (var db = await Platform.OpenDbAsync())
        {
            // As if the API stopped between storing a job and queueing it.
            await db.Jobs.Where(j => j.Id == abandoned).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, "validating_files").SetProperty(j => j.CreatedAt, DateTimeOffset.UtcNow.AddMinutes(-5)), Ct);
            // As if a worker claimed each job (attempt 1) and died: the lease ran out.
            await db.Jobs.Where(j => j.Id == retried || j.Id == exhausted).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, "running").SetProperty(j => j.WorkerId, "vanished-worker")
                .SetProperty(j => j.Attempts, 1).SetProperty(j => j.LeaseExpiresAt, DateTimeOffset.UtcNow.AddMinutes(-1)), Ct);
        }

        JsonElement failed = default, requeued = default, resumed = default;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            failed = await gateway.GetFromJsonAsync<JsonElement>($"/api/jobs/{exhausted}", Ct);
            requeued = await gateway.GetFromJsonAsync<JsonElement>($"/api/jobs/{retried}", Ct);
            resumed = await gateway.GetFromJsonAsync<JsonElement>($"/api/jobs/{abandoned}", Ct);
            if (failed.GetProperty("status").GetString() == "failed" && requeued.GetProperty("status").GetString() == "queued"
                && resumed.GetProperty("status").GetString() == "queued") break;
            await Task.Delay(500, Ct);
        }
        Assert.Equal("queued", resumed.GetProperty("status").GetString());

        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Equal("worker_lost", failed.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("queued", requeued.GetProperty("status").GetString());
        Assert.Equal(2, (await Platform.StreamCountsAsync()).GetValueOrDefault(retried)); // created, then re-enqueued
        using var alerts = await gateway.GetFromJsonAsync<JsonDocument>("/api/alerts?kind=job_failed&limit=500", Ct);
        var alert = alerts!.RootElement.GetProperty("data").EnumerateArray().Single(a => a.GetProperty("job_id").GetString() == exhausted);
        Assert.Equal(exhausted, alert.GetProperty("subject").GetString());
        Assert.Equal("critical", alert.GetProperty("severity").GetString());
    }

    [Fact]
    public async Task Bad_alert_and_webhook_requests_are_problems_naming_the_field()
    {
        using var gateway = Platform.CreateGatewayClient();

        using var noUrl = await gateway.PostAsJsonAsync("/api/alerts/webhooks", new { url = "ftp://example.com/x" }, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, noUrl.StatusCode);
        Assert.Equal("url", await PlatformAccess.ProblemParamAsync(noUrl));
        using var badKind = await gateway.PostAsJsonAsync("/api/alerts/webhooks", new { url = "http://127.0.0.1:9/x", kinds = new[] { "job_failed", "oops" } }, Ct);
        Assert.Equal("kinds[1]", await PlatformAccess.ProblemParamAsync(badKind));
        using var unknownField = await gateway.PostAsJsonAsync("/api/alerts/webhooks", new { url = "http://127.0.0.1:9/x", secrett = "x" }, Ct);
        Assert.Equal("secrett", await PlatformAccess.ProblemParamAsync(unknownField));
        using var listKind = await gateway.GetAsync("/api/alerts?kind=bogus", Ct);
        Assert.Equal("kind", await PlatformAccess.ProblemParamAsync(listKind));
        using var missing = await gateway.PostAsync("/api/alerts/987654321/acknowledge", null, Ct);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var noHook = await gateway.DeleteAsync($"/api/alerts/webhooks/{Guid.NewGuid()}", Ct);
        Assert.Equal(HttpStatusCode.NotFound, noHook.StatusCode);
        using var hooks = await gateway.GetFromJsonAsync<JsonDocument>("/api/alerts/webhooks", Ct);
        Assert.DoesNotContain(hooks!.RootElement.GetProperty("data").EnumerateArray(), h => h.GetProperty("url").GetString() == "ftp://example.com/x");
    }
}
