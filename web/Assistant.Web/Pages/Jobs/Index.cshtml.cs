using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Jobs;

public sealed class IndexModel(PlatformApi api) : PageModel
{
    public const int PageSize = 20;

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    /// <summary>The id of the last job of the previous page (the API's cursor).</summary>
    [BindProperty(SupportsGet = true)]
    public string? After { get; set; }

    public IReadOnlyList<Job> Jobs { get; private set; } = [];
    public bool HasMore { get; private set; }
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        if (Status is { Length: > 0 } && !Job.Statuses.Contains(Status))
        {
            Error = $"'{Status}' is not a job status.";
            return;
        }
        try
        {
            var page = await api.ListJobsAsync(Status is { Length: > 0 } ? Status : null, After is { Length: > 0 } ? After : null, PageSize, ct);
            (Jobs, HasMore) = (page.Data, page.HasMore);
        }
        catch (GatewayProblem problem)
        {
            Error = problem.Detail;
        }
    }
}
