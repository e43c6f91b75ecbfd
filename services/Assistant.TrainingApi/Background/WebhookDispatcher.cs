using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Alerts;
using Assistant.Platform.Persistence;
using Assistant.TrainingApi.Apis;
using Assistant.TrainingApi.Database;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace Assistant.TrainingApi.Background;

/// <summary>
/// Delivers the alert outbox (<see cref="WebhookDelivery"/> rows the <see cref="AlertBook"/> wrote) as JSON POSTs.
/// A body is signed with HMAC-SHA256 of the webhook's secret in <c>X-Assistant-Signature: sha256=&lt;hex&gt;</c>.
/// A failed attempt (no answer, or not 2xx) is retried after 2^attempts seconds, up to
/// <see cref="MonitoringOptions.WebhookMaxAttempts"/>; each attempt's status code or error is recorded.
/// </summary>
internal sealed class WebhookDispatcher(IServiceScopeFactory scopes, DatabaseMigrator migrator, IOptions<MonitoringOptions> options, ILogger<WebhookDispatcher> logger)
    : SingleReplicaService(scopes, migrator, logger), IDisposable
{
    public const string SignatureHeader = "X-Assistant-Signature";
    private const int BatchSize = 20;

    // Not from IHttpClientFactory: the service defaults add a resilience handler that would retry on its own
    // and hide attempts; this loop is the retry policy, and each attempt is recorded.
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        AllowAutoRedirect = false,
    })
    {
        Timeout = options.Value.WebhookTimeout,
    };

    protected override TimeSpan Interval => options.Value.WebhookPollInterval;
    protected override long LockKey => 72103;

    protected override async Task RunOnceAsync(IServiceProvider services, CancellationToken ct)
    {
        var db = services.GetRequiredService<PlatformDbContext>();
        var now = DateTimeOffset.UtcNow;
        var due = await db.WebhookDeliveries.Where(d => d.Status == DeliveryStatus.Pending && d.NextAttemptAt <= now)
            .OrderBy(d => d.NextAttemptAt).Take(BatchSize).ToListAsync(ct);
        if (due.Count == 0)
        {
            return;
        }
        var alertIds = due.Select(d => d.AlertId).Distinct().ToList();
        var hookIds = due.Select(d => d.WebhookId).Distinct().ToList();
        var alerts = await db.Alerts.AsNoTracking().Where(a => alertIds.Contains(a.Id)).ToDictionaryAsync(a => a.Id, ct);
        var hooks = await db.Webhooks.AsNoTracking().Where(h => hookIds.Contains(h.Id)).ToDictionaryAsync(h => h.Id, ct);

        foreach (var delivery in due)
        {
            // Rows cascade with their alert and webhook, so both exist; a disabled hook is given up, not retried.
            var hook = hooks[delivery.WebhookId];
            var (statusCode, error) = hook.Enabled
                ? await SendAsync(hook, alerts[delivery.AlertId], delivery, ct)
                : (null, "The webhook is disabled.");
            delivery.Attempts++;
            delivery.LastStatusCode = statusCode;
            delivery.LastError = error?.Length > 2000 ? error[..2000] : error;
            if (error is null)
            {
                delivery.Status = DeliveryStatus.Delivered;
                delivery.DeliveredAt = DateTimeOffset.UtcNow;
            }
            else if (!hook.Enabled || delivery.Attempts >= options.Value.WebhookMaxAttempts)
            {
                delivery.Status = DeliveryStatus.Failed;
                logger.LogWarning("Alert {AlertId} was not delivered to {Url} after {Attempts} attempt(s): {Error}", delivery.AlertId, hook.Url, delivery.Attempts, error);
            }
            else
            {
                delivery.NextAttemptAt = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(Math.Pow(2, delivery.Attempts));
            }
            // Saved per delivery: a crash mid-batch must not send the delivered ones again.
            await db.SaveChangesAsync(ct);
        }
    }

    /// <summary>One attempt; the error is null when the receiver answered 2xx.</summary>
    private async Task<(int? StatusCode, string? Error)> SendAsync(Webhook hook, Alert alert, WebhookDelivery delivery, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            @event = "alert",
            delivery_id = delivery.Id,
            attempt = delivery.Attempts + 1,
            alert = AlertDto.From(alert),
        }, RequestBody.Options);
        using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Assistant-Event", alert.Kind);
        request.Headers.Add("X-Assistant-Delivery", delivery.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (hook.Secret is not null)
        {
            request.Headers.Add(SignatureHeader, "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(hook.Secret), body)));
        }
        try
        {
            using var response = await _http.SendAsync(request, ct);
            return response.IsSuccessStatusCode
                ? ((int)response.StatusCode, null)
                : ((int)response.StatusCode, $"The receiver answered {(int)response.StatusCode} {response.ReasonPhrase}.");
        }
        catch (HttpRequestException ex)
        {
            return (null, ex.Message);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, $"No answer within {_http.Timeout.TotalSeconds:F0} s.");
        }
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }
}

/// <summary><see cref="WebhookDelivery.Status"/> values.</summary>
internal static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}
