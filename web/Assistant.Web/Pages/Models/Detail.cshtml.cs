using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Models;

public sealed class AliasForm
{
    public string? Alias { get; set; } = "production";
    public int? Version { get; set; }
    public string? Reason { get; set; }
}

public sealed class DetailModel(PlatformApi api) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty]
    public AliasForm Move { get; set; } = new();

    [TempData]
    public string? Notice { get; set; }

    public Model? Model { get; private set; }
    public string? Error { get; private set; }

    /// <summary>Why the alias was not moved, by the field the API named ("" for a refusal of the move as a whole).</summary>
    public Dictionary<string, string> MoveErrors { get; } = [];

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostMoveAsync(CancellationToken ct)
    {
        var alias = Move.Alias?.Trim() ?? "";
        if (alias.Length == 0)
        {
            MoveErrors["alias"] = "Name the alias to move (production, staging…).";
        }
        else if (Move.Version is null)
        {
            MoveErrors["version"] = "Choose the version the alias should point at.";
        }
        else
        {
            try
            {
                var moved = await api.MoveAliasAsync(Name, alias, Move.Version.Value, string.IsNullOrWhiteSpace(Move.Reason) ? null : Move.Reason.Trim(), ct);
                Notice = $"{moved.Alias} now points at version {moved.ToVersion}" + (moved.FromVersion is { } from ? $" (was {from})." : ".");
                return Redirect($"/models/{Uri.EscapeDataString(Name)}");
            }
            catch (GatewayProblem problem)
            {
                var field = problem.Param is "alias" or "version" or "reason" ? problem.Param : "";
                MoveErrors[field] = problem.Status == StatusCodes.Status409Conflict ? $"The move was refused: {problem.Detail}" : problem.Detail;
            }
        }
        await LoadAsync(ct);
        return Page();
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        try
        {
            Model = await api.GetModelAsync(Name, ct);
            Move.Version ??= Model.Versions.FirstOrDefault()?.Version;
        }
        catch (GatewayProblem problem)
        {
            Response.StatusCode = problem.Status;
            Error = problem.Detail;
        }
    }
}
