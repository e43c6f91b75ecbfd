using System.Text.Json;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Datasets;

/// <summary>What the labelling script commits: a message and the pending edits, as the API names them.</summary>
public sealed record CommitBody(string? Message, IReadOnlyList<DatasetEdit>? Edits);

public sealed class VersionModel(PlatformApi api) : PageModel
{
    public const int PageSize = 20;

    [BindProperty(SupportsGet = true)]
    public string Name { get; set; } = "";

    [BindProperty(SupportsGet = true)]
    public int Version { get; set; }

    [BindProperty(SupportsGet = true)]
    public long Offset { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Search { get; set; }

    /// <summary>Set when an upload was identical to this version, so nothing new was stored.</summary>
    [BindProperty(SupportsGet = true)]
    public bool Deduplicated { get; set; }

    [TempData]
    public string? Notice { get; set; }

    public DatasetVersion? Current { get; private set; }
    public DatasetExamplePage? Examples { get; private set; }
    public int? LatestVersion { get; private set; }
    public string? Error { get; private set; }
    public string? ExamplesError { get; private set; }

    public string Href => $"/datasets/{Uri.EscapeDataString(Name)}/{Version}";

    /// <summary>A link to another page of examples, keeping the search.</summary>
    public string PageHref(long offset) =>
        $"{Href}?offset={Math.Max(0, offset)}{(string.IsNullOrEmpty(Search) ? "" : "&search=" + Uri.EscapeDataString(Search))}#examples-heading";

    /// <summary>The version's JSONL, streamed from the API as it arrives: a large file is never held by the web app.</summary>
    public async Task<IActionResult> OnGetDownloadAsync([FromServices] IHttpClientFactory clients, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = await clients.CreateClient(GatewayClients.Streams)
                .GetAsync($"api/datasets/{Uri.EscapeDataString(Name)}/versions/{Version}/download", HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException ex)
        {
            var unreachable = GatewayProblem.Unreachable(ex);
            return StatusCode(unreachable.Status, unreachable.Detail);
        }
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                var problem = await GatewayProblem.ReadAsync(response, ct);
                return StatusCode(problem.Status, problem.Detail);
            }
        }
        HttpContext.Response.RegisterForDispose(response);
        return File(await response.Content.ReadAsStreamAsync(ct), "application/jsonl", $"{Name}-v{Version}.jsonl");
    }

    public async Task<IActionResult> OnGetAsync(CancellationToken ct)
    {
        Offset = Math.Max(0, Offset);
        Search = string.IsNullOrWhiteSpace(Search) ? null : Search.Trim();
        var dataset = api.GetDatasetAsync(Name, ct);
        try
        {
            var detail = await dataset;
            Current = detail.Versions.FirstOrDefault(v => v.Version == Version)
                ?? throw new GatewayProblem(StatusCodes.Status404NotFound, "Not found", $"Dataset '{Name}' has no version {Version}.");
            LatestVersion = detail.Versions.Max(v => v.Version);
        }
        catch (GatewayProblem problem)
        {
            Response.StatusCode = problem.Status;
            Error = problem.Detail;
            return Page();
        }
        try
        {
            Examples = await api.ListExamplesAsync(Name, Version, Offset, PageSize, Search, ct);
        }
        catch (GatewayProblem problem)
        {
            ExamplesError = problem.Detail;
        }
        return Page();
    }

    /// <summary>Commits the pending edits as a new version; answers where it is, or the API's refusal (the edits stay pending).</summary>
    public async Task<IActionResult> OnPostCommitAsync(CancellationToken ct)
    {
        CommitBody? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<CommitBody>(Request.Body, GatewayJson.Options, ct);
        }
        catch (JsonException)
        {
            body = null;
        }
        if (body is null)
        {
            return new GatewayProblem(StatusCodes.Status400BadRequest, "Not a commit", "The commit could not be read; reload the page and try again.").ToResult();
        }
        try
        {
            var created = await api.CommitDatasetEditsAsync(Name, Version, body.Message, body.Edits ?? [], ct);
            Notice = $"Committed v{created.Version}: {created.Message} ({created.Examples:N0} examples).";
            return new JsonResult(new { version = created.Version, url = $"/datasets/{Uri.EscapeDataString(Name)}/{created.Version}" });
        }
        catch (GatewayProblem problem)
        {
            return problem.ToResult();
        }
    }
}
