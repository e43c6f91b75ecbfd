using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages.Datasets;

public sealed class IndexModel(PlatformApi api, IHttpClientFactory clients) : PageModel
{
    /// <summary>The formats the API reads; "auto" lets it tell from the records.</summary>
    public static readonly (string Value, string Label)[] Formats =
    [
        ("auto", "Detect from the file"), ("chat", "chat (messages)"), ("context_response", "context_response"),
        ("prompt_completion", "prompt_completion"), ("alpaca", "alpaca (instruction, input, output)"), ("text", "text (pretraining)"),
    ];

    public IReadOnlyList<DatasetSummary> Datasets { get; private set; } = [];
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        try
        {
            Datasets = (await api.ListDatasetsAsync(ct)).OrderByDescending(d => d.CreatedAt).ToList();
        }
        catch (GatewayProblem problem)
        {
            Error = problem.Detail;
        }
    }

    /// <summary>
    /// The browser's upload (XMLHttpRequest, for its progress events), streamed on to the API as it arrives. Answers
    /// JSON: where the new version is, or the API's errors by line and field (and then nothing was stored).
    /// </summary>
    public async Task<IActionResult> OnPostUploadAsync()
    {
        var result = await DatasetUploadRelay.ForwardAsync(clients, HttpContext);
        return new JsonResult(result, GatewayJson.Options) { StatusCode = result.Status };
    }
}
