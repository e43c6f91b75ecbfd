using System.Text.Json;
using Assistant.Platform.Persistence;
using Assistant.Platform.Workers;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using StackExchange.Redis;

namespace Assistant.Platform.Alerts;

public static class AlertSeverity
{
    public const string Info = "info";
    public const string Warning = "warning";
    public const string Critical = "critical";
}

/// <summary>
/// Where rules record what fired. An alert is stored once per (kind, subject), queued for every matching
/// webhook in the same transaction (an outbox the API's dispatcher delivers with retries), and announced
/// on Redis for live views.
/// </summary>
public sealed class AlertBook(PlatformDbContext db, IConnectionMultiplexer redis)
{
    public const string Notifications = "assistant:alerts";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>Stores and announces an alert; null when this (kind, subject) already fired.</summary>
    public async Task<Alert?> RaiseAsync(string kind, string severity, string subject, string message,
        string? jobId = null, string? workerId = null, object? data = null, CancellationToken ct = default)
    {
        Alert NewAlert() => new()
        {
            Kind = kind, Severity = severity, Subject = subject, Message = message, JobId = jobId, WorkerId = workerId,
            Data = data is null ? null : JsonSerializer.Serialize(data, Json), CreatedAt = DateTimeOffset.UtcNow,
        };
        var alert = NewAlert();
        // The alert and its deliveries commit together (an outbox); the strategy retries the whole unit.
        var stored = await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            alert = NewAlert(); // a fresh entity per attempt: a retried unit must not reuse a half-assigned id
            await using var transaction = await db.Database.BeginTransactionAsync(ct);
            db.Alerts.Add(alert);
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
            {
                db.ChangeTracker.Clear();
                return false;
            }
            var hooks = await db.Webhooks.AsNoTracking().Where(h => h.Enabled).ToListAsync(ct);
            foreach (var hook in hooks.Where(h => h.Kinds.Length == 0 || h.Kinds.Contains(kind)))
            {
                db.WebhookDeliveries.Add(new WebhookDelivery { AlertId = alert.Id, WebhookId = hook.Id, NextAttemptAt = alert.CreatedAt });
            }
            await db.SaveChangesAsync(ct);
            await transaction.CommitAsync(ct);
            return true;
        });
        if (!stored) return null;
        try
        {
            await redis.GetSubscriber().PublishAsync(RedisChannel.Literal(Notifications), JsonSerializer.Serialize(new { alert.Id, alert.Kind, alert.Severity, alert.Subject, alert.Message, alert.JobId }, Json));
        }
        catch (RedisException)
        {
            // The alert is stored and its webhooks queued; the live notice is a courtesy.
        }
        return alert;
    }
}
