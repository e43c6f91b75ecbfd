using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Alerts;

/// <summary>The add-webhook form as posted.</summary>
public sealed class WebhookForm
{
    public string? Url { get; set; }
    public List<string> Kinds { get; set; } = [];
    public string? Secret { get; set; }
}

public sealed class IndexModel(PlatformApi api) : PageModel
{
    public const int PageSize = 50;

    /// <summary>The platform's alert kinds (its AlertKind), offered as webhook filters.</summary>
    public static readonly string[] AlertKinds = ["nan_loss", "loss_spike", "worker_silent", "eval_loss_rising", "job_failed", "job_finished"];

    /// <summary>open (not acknowledged yet) or all.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Show { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Kind { get; set; }

    /// <summary>The id of the last alert of the previous page (the API's cursor).</summary>
    [BindProperty(SupportsGet = true)]
    public string? After { get; set; }

    [BindProperty]
    public WebhookForm Webhook { get; set; } = new();

    [TempData]
    public string? Notice { get; set; }

    [TempData]
    public string? ActionError { get; set; }

    public bool ShowAll => Show == "all";
    public IReadOnlyList<AlertEntry> Alerts { get; private set; } = [];
    public bool HasMore { get; private set; }
    public string? Error { get; private set; }
    public IReadOnlyList<Webhook> Webhooks { get; private set; } = [];
    public string? WebhooksError { get; private set; }

    /// <summary>Errors of the add-webhook form by the API's name of the field (url, kinds, secret); "" for the form.</summary>
    public Dictionary<string, string> Errors { get; } = [];

    public string? ErrorFor(string param) => Errors.GetValueOrDefault(param);

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    public async Task<IActionResult> OnPostAcknowledgeAsync(long id, CancellationToken ct)
    {
        try
        {
            var alert = await api.AcknowledgeAlertAsync(id, ct);
            Notice = $"Alert {alert.Id} acknowledged by {alert.AcknowledgedBy}.";
        }
        catch (GatewayProblem problem)
        {
            ActionError = $"Alert {id} was not acknowledged: {problem.Detail}";
        }
        return Redirect(Here());
    }

    public async Task<IActionResult> OnPostAddWebhookAsync(CancellationToken ct)
    {
        var url = Webhook.Url?.Trim();
        if (string.IsNullOrEmpty(url))
        {
            Errors["url"] = "Enter the URL alerts are posted to.";
        }
        else
        {
            try
            {
                var hook = await api.CreateWebhookAsync(url, Webhook.Kinds, string.IsNullOrEmpty(Webhook.Secret) ? null : Webhook.Secret, ct);
                Notice = $"Webhook added: {hook.Url} receives {(hook.Kinds.Count == 0 ? "every alert" : string.Join(", ", hook.Kinds))}{(hook.HasSecret ? ", signed" : "")}.";
                return Redirect(Here() + "#webhooks-heading");
            }
            catch (GatewayProblem problem)
            {
                var field = problem.Param switch
                {
                    "url" or "secret" => problem.Param,
                    { } p when p.StartsWith("kinds", StringComparison.Ordinal) => "kinds",
                    _ => "",
                };
                Errors[field] = problem.Detail;
            }
        }
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostDeleteWebhookAsync(Guid id, CancellationToken ct)
    {
        try
        {
            await api.DeleteWebhookAsync(id, ct);
            Notice = "Webhook deleted.";
        }
        catch (GatewayProblem problem)
        {
            ActionError = $"The webhook was not deleted: {problem.Detail}";
        }
        return Redirect(Here() + "#webhooks-heading");
    }

    private string Here() =>
        "/alerts" + QueryString.Create(new[] { ("show", Show), ("kind", Kind) }
            .Where(p => !string.IsNullOrEmpty(p.Item2)).Select(p => new KeyValuePair<string, string?>(p.Item1, p.Item2)));

    private async Task LoadAsync(CancellationToken ct)
    {
        var alerts = api.ListAlertsAsync(ShowAll ? null : false, string.IsNullOrEmpty(Kind) ? null : Kind, string.IsNullOrEmpty(After) ? null : After, PageSize, ct);
        var hooks = api.ListWebhooksAsync(ct);
        try
        {
            var page = await alerts;
            (Alerts, HasMore) = (page.Data, page.HasMore);
        }
        catch (GatewayProblem problem)
        {
            Error = problem.Detail;
        }
        try
        {
            Webhooks = (await hooks).Data;
        }
        catch (GatewayProblem problem) when (problem.Status == StatusCodes.Status403Forbidden)
        {
            WebhooksError = $"Webhook settings need a key with the admin scope, and this session's key does not have it ({problem.Detail}).";
        }
        catch (GatewayProblem problem)
        {
            WebhooksError = $"The webhooks could not be read: {problem.Detail}";
        }
    }
}
