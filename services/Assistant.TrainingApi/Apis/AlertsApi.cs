using System.Text.Json;
using Assistant.Platform.Alerts;
using Assistant.Platform.Persistence;
using Assistant.Platform.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace Assistant.TrainingApi.Apis;

public sealed record AlertDto(
    long Id, string Object, string Kind, string Severity, string Subject, string Message, string? JobId, string? WorkerId,
    JsonElement? Data, DateTimeOffset CreatedAt, bool Acknowledged, DateTimeOffset? AcknowledgedAt, string? AcknowledgedBy)
{
    public static AlertDto From(Alert a) => new(a.Id, "alert", a.Kind, a.Severity, a.Subject, a.Message, a.JobId, a.WorkerId,
        a.Data is null ? null : JobDto.Json(a.Data), a.CreatedAt, a.AcknowledgedAt is not null, a.AcknowledgedAt, a.AcknowledgedBy);
}

/// <summary>A webhook as listed: its secret is never sent back, only whether it has one.</summary>
public sealed record WebhookDto(Guid Id, string Url, IReadOnlyList<string> Kinds, bool HasSecret, bool Enabled, DateTimeOffset CreatedAt)
{
    public static WebhookDto From(Webhook h) => new(h.Id, h.Url, h.Kinds, h.Secret is not null, h.Enabled, h.CreatedAt);
}

public sealed record NewWebhookRequest(string? Url, string[]? Kinds, string? Secret);

/// <summary>Alerts the platform raised (<c>/api/alerts</c>), their acknowledgement, and the webhooks they are delivered to.</summary>
public static class AlertsApi
{
    public static IEndpointRouteBuilder MapAlertsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/alerts").WithTags("Alerts").AddEndpointFilter<ApiProblems>();
        api.MapGet("/", List).WithName("ListAlerts").RequireScope(ApiScopes.Read)
            .WithSummary("Alerts, newest first; ?acknowledged=true|false, ?kind=, ?limit=, ?after=<alert id>.");
        api.MapPost("/{id:long}/acknowledge", Acknowledge).WithName("AcknowledgeAlert").RequireScope(ApiScopes.Train)
            .WithSummary("Mark an alert seen (the first acknowledgement is kept).");
        api.MapGet("/webhooks", ListWebhooks).WithName("ListWebhooks").RequireScope(ApiScopes.Admin).WithSummary("Webhooks that receive alerts.");
        api.MapPost("/webhooks", CreateWebhook).WithName("CreateWebhook").RequireScope(ApiScopes.Admin)
            .WithSummary("Deliver alerts (of the given kinds; none = all) as JSON POSTs to a URL, signed with HMAC-SHA256 when a secret is given.")
            .Produces<WebhookDto>(StatusCodes.Status201Created).ProducesValidationProblem();
        api.MapDelete("/webhooks/{id:guid}", DeleteWebhook).WithName("DeleteWebhook").RequireScope(ApiScopes.Admin)
            .WithSummary("Stop delivering to a webhook; its pending deliveries go with it.");
        return app;
    }

    private static async Task<Ok<ListDto<AlertDto>>> List(PlatformDbContext db, CancellationToken ct,
        string? acknowledged = null, string? kind = null, string? limit = null, string? after = null)
    {
        var pageSize = Query.Int(limit, "limit", fallback: 50, minimum: 1, maximum: 500);
        var alerts = db.Alerts.AsNoTracking();
        switch (Query.Bool(acknowledged, "acknowledged"))
        {
            case true:
                alerts = alerts.Where(a => a.AcknowledgedAt != null);
                break;
            case false:
                alerts = alerts.Where(a => a.AcknowledgedAt == null);
                break;
        }
        if (kind is not null)
        {
            if (!AlertKind.All.Contains(kind))
            {
                throw ApiProblem.Invalid("kind", $"'{kind}' is not an alert kind: use {string.Join(", ", AlertKind.All)}.");
            }
            alerts = alerts.Where(a => a.Kind == kind);
        }
        if (after is not null)
        {
            var cursor = long.TryParse(after, out var id) ? id : throw ApiProblem.Invalid("after", "after is the id of the last alert of the previous page.");
            alerts = alerts.Where(a => a.Id < cursor);
        }
        var page = await alerts.OrderByDescending(a => a.Id).Take(pageSize + 1).ToListAsync(ct);
        return TypedResults.Ok(new ListDto<AlertDto>(page.Take(pageSize).Select(AlertDto.From).ToList(), page.Count > pageSize));
    }

    private static async Task<Ok<AlertDto>> Acknowledge(long id, HttpContext http, PlatformDbContext db, CancellationToken ct)
    {
        var caller = Caller.Of(http);
        await db.Alerts.Where(a => a.Id == id && a.AcknowledgedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.AcknowledgedAt, DateTimeOffset.UtcNow).SetProperty(a => a.AcknowledgedBy, caller), ct);
        var alert = await db.Alerts.AsNoTracking().FirstOrDefaultAsync(a => a.Id == id, ct)
            ?? throw ApiProblem.NotFound("id", $"Alert {id} was not found.");
        return TypedResults.Ok(AlertDto.From(alert));
    }

    private static async Task<Ok<ListDto<WebhookDto>>> ListWebhooks(PlatformDbContext db, CancellationToken ct)
    {
        var hooks = await db.Webhooks.AsNoTracking().OrderBy(h => h.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(new ListDto<WebhookDto>(hooks.Select(WebhookDto.From).ToList(), HasMore: false));
    }

    private static async Task<Created<WebhookDto>> CreateWebhook(HttpContext http, PlatformDbContext db, CancellationToken ct)
    {
        var request = await RequestBody.ReadAsync<NewWebhookRequest>(http.Request, ct);
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || request.Url!.Length > 2000)
        {
            throw ApiProblem.Invalid("url", "url must be an absolute http or https URL of at most 2000 characters.");
        }
        var kinds = request.Kinds ?? [];
        for (var i = 0; i < kinds.Length; i++)
        {
            if (!AlertKind.All.Contains(kinds[i]))
            {
                throw ApiProblem.Invalid($"kinds[{i}]", $"'{kinds[i]}' is not an alert kind: use {string.Join(", ", AlertKind.All)}.");
            }
        }
        if (request.Secret is { Length: 0 or > 256 })
        {
            throw ApiProblem.Invalid("secret", "secret must be 1 to 256 characters (or left out for unsigned deliveries).");
        }
        var hook = new Webhook { Id = Guid.NewGuid(), Url = request.Url, Kinds = kinds.Distinct().ToArray(), Secret = request.Secret, CreatedAt = DateTimeOffset.UtcNow };
        db.Webhooks.Add(hook);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api/alerts/webhooks/{hook.Id}", WebhookDto.From(hook));
    }

    private static async Task<NoContent> DeleteWebhook(Guid id, PlatformDbContext db, CancellationToken ct)
    {
        if (await db.Webhooks.Where(h => h.Id == id).ExecuteDeleteAsync(ct) == 0)
        {
            throw ApiProblem.NotFound("id", $"Webhook {id} was not found.");
        }
        return TypedResults.NoContent();
    }
}
