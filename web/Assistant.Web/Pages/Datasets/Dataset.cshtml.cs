using System.Globalization;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Datasets;

/// <summary>The split form as typed: text, so a value that is not a number is named like the API's own errors.</summary>
public sealed class SplitForm
{
    public int? Version { get; set; }
    public string? Train { get; set; } = "0.8";
    public string? Validation { get; set; } = "0.1";
    public string? Test { get; set; } = "0.1";
    public string? Seed { get; set; } = "42";
}

public sealed class DatasetModel(PlatformApi api) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string Name { get; set; } = "";

    /// <summary>The version whose statistics show; the latest when absent.</summary>
    [BindProperty(SupportsGet = true, Name = "version")]
    public int? SelectedVersion { get; set; }

    /// <summary>A split just made, to point out in the splits table.</summary>
    [BindProperty(SupportsGet = true, Name = "split")]
    public Guid? NewSplit { get; set; }

    [BindProperty]
    public SplitForm Split { get; set; } = new();

    public DatasetDetail? Dataset { get; private set; }
    public DatasetVersion? Selected { get; private set; }
    public string? Error { get; private set; }

    /// <summary>Split errors by the API's field name ("ratios", "seed", "version"); "" for the whole form.</summary>
    public Dictionary<string, string> SplitErrors { get; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        if (Dataset is null)
        {
            return Page();
        }
        Split.Version ??= Selected?.Version;
        return Page();
    }

    public async Task<IActionResult> OnPostSplitAsync(CancellationToken ct)
    {
        var ratios = new double[3];
        string?[] typed = [Split.Train, Split.Validation, Split.Test];
        for (var i = 0; i < 3; i++)
        {
            if (!double.TryParse(typed[i]?.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out ratios[i]) || !double.IsFinite(ratios[i]))
            {
                SplitErrors["ratios"] = "Each ratio must be a number, like 0.8.";
            }
        }
        if (!int.TryParse(Split.Seed?.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed))
        {
            SplitErrors["seed"] = "The seed must be a whole number, like 42.";
        }
        if (Split.Version is null)
        {
            SplitErrors["version"] = "Choose the version to split.";
        }
        if (SplitErrors.Count == 0)
        {
            try
            {
                var split = await api.SplitDatasetAsync(Name, Split.Version!.Value, ratios, seed, ct);
                return Redirect($"/datasets/{Uri.EscapeDataString(Name)}?version={Split.Version}&split={split.Id}#splits-heading");
            }
            catch (GatewayProblem problem)
            {
                SplitErrors[problem.Param is "ratios" or "seed" or "version" ? problem.Param : ""] = problem.Detail;
            }
        }
        SelectedVersion = Split.Version;
        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        try
        {
            Dataset = await api.GetDatasetAsync(Name, ct);
            Selected = Dataset.Versions.FirstOrDefault(v => v.Version == SelectedVersion) ?? Dataset.Versions.MaxBy(v => v.Version);
        }
        catch (GatewayProblem problem)
        {
            Response.StatusCode = problem.Status;
            Error = problem.Detail;
        }
    }
}
