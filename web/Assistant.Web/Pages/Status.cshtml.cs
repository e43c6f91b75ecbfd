using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

public sealed class StatusModel(PlatformClient platform) : PageModel
{
    public PlatformStatus Status { get; private set; } = new(null, [], DateTimeOffset.UtcNow);

    public async Task OnGetAsync(CancellationToken ct) => Status = await platform.GetStatusAsync(ct);

    /// <summary>The same status as JSON, polled by the page to stay live without a reload.</summary>
    public async Task<JsonResult> OnGetStatusAsync(CancellationToken ct) => new(await platform.GetStatusAsync(ct));
}
