using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Models;

public sealed class IndexModel(PlatformApi api) : PageModel
{
    public IReadOnlyList<ModelSummary> Models { get; private set; } = [];
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        try
        {
            Models = (await api.ListModelsAsync(ct)).Data;
        }
        catch (GatewayProblem problem)
        {
            Error = problem.Detail;
        }
    }
}
