using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Datasets;

public sealed class DiffModel(PlatformApi api) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public int? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public int? To { get; set; }

    public DatasetDiff? Diff { get; private set; }
    public IReadOnlyList<int> Versions { get; private set; } = [];
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        try
        {
            var dataset = await api.GetDatasetAsync(Name, ct);
            Versions = dataset.Versions.Select(v => v.Version).OrderDescending().ToList();
            To ??= Versions.FirstOrDefault();
            From ??= dataset.Versions.FirstOrDefault(v => v.Version == To)?.ParentVersion ?? Versions.FirstOrDefault(v => v < To);
            if (From is null || To is null)
            {
                Error = "Choose two versions to compare.";
                return;
            }
            Diff = await api.DiffDatasetAsync(Name, From.Value, To.Value, ct);
        }
        catch (GatewayProblem problem)
        {
            Response.StatusCode = problem.Status;
            Error = problem.Detail;
        }
    }
}
