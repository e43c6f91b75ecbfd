using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

public sealed record ChatMessage(string Role, string Content);

/// <summary>What the playground sends; the web app forwards it to <c>/v1/chat/completions</c> with <c>stream: true</c>.</summary>
public sealed record ChatRequest(string? Model, IReadOnlyList<ChatMessage>? Messages, double? Temperature, double? TopP, int? MaxTokens);

/// <summary>One entry of the model picker: the <c>model</c> sent, how it reads, and the version behind it (<c>name@N</c>, when known).</summary>
public sealed record ModelChoice(string Value, string Label, string? Root, bool Served = false);

/// <summary>The picker's entries of one model (or of what inference serves now).</summary>
public sealed record ModelChoiceGroup(string Label, IReadOnlyList<ModelChoice> Choices);

public sealed class PlaygroundModel(PlatformApi api, EventStreamRelay relay) : PageModel
{
    /// <summary>What is served now first, then every registered model: its aliases (<c>name:alias</c>), then its versions (<c>name@N</c>), newest first.</summary>
    public IReadOnlyList<ModelChoiceGroup> Groups { get; private set; } = [];

    public const string ServedNow = "Served now";

    /// <summary>The choice selected when the page opens: <c>?model=</c> when it is listed, else the first served model.</summary>
    public string? Selected { get; private set; }

    public bool AnyServed { get; private set; }
    public string? ServedError { get; private set; }
    public string? RegistryError { get; private set; }

    public async Task OnGetAsync(string? model, CancellationToken ct)
    {
        var groups = new List<ModelChoiceGroup>();
        try
        {
            var served = (await api.ListServedModelsAsync(ct)).Data;
            if (served.Count > 0)
            {
                groups.Add(new ModelChoiceGroup(ServedNow, served.Select(m => new ModelChoice(m.Id,
                    m.Alias is null ? $"{m.Id} (loaded on demand)" : $"{m.Id} ({m.Alias} → v{m.Version})", m.Root)).ToList()));
                AnyServed = true;
            }
        }
        catch (GatewayProblem problem)
        {
            ServedError = problem.Detail;
        }
        try
        {
            groups.AddRange(await RegisteredAsync(ct));
        }
        catch (GatewayProblem problem)
        {
            RegistryError = problem.Detail;
        }
        // A choice whose version inference serves now answers at once; any other is loaded on demand first.
        var servedRoots = groups.Where(g => g.Label == ServedNow).SelectMany(g => g.Choices).Select(c => c.Root).OfType<string>().ToHashSet(StringComparer.Ordinal);
        Groups = groups.Select(g => g with { Choices = g.Choices.Select(c => c with { Served = c.Root is not null && servedRoots.Contains(c.Root) }).ToList() }).ToList();
        var all = groups.SelectMany(g => g.Choices).Select(c => c.Value).ToList();
        Selected = model is not null && all.Contains(model) ? model : all.FirstOrDefault();
    }

    /// <summary>
    /// A group per registered model from one read of <c>/api/models</c>: its summary carries the aliases and the latest
    /// version, and versions are numbered 1..latest and never deleted, so no per-model read is needed.
    /// </summary>
    private async Task<IReadOnlyList<ModelChoiceGroup>> RegisteredAsync(CancellationToken ct) =>
        (await api.ListModelsAsync(ct)).Data.OrderBy(m => m.Name, StringComparer.Ordinal)
            .Select(model => new ModelChoiceGroup(model.Name,
                model.Aliases.OrderBy(a => a.Key, StringComparer.Ordinal)
                    .Select(a => new ModelChoice($"{model.Name}:{a.Key}", $"{model.Name}:{a.Key} → v{a.Value}", $"{model.Name}@{a.Value}"))
                    .Concat(Enumerable.Range(1, model.LatestVersion ?? 0).Reverse()
                        .Select(v => new ModelChoice($"{model.Name}@{v}", $"{model.Name}@{v}", $"{model.Name}@{v}")))
                    .ToList()))
            .Where(g => g.Choices.Count > 0)
            .ToList();

    /// <summary>Streams a chat completion: the browser posts the conversation, the gateway's SSE chunks come back as they are made.</summary>
    public async Task<IActionResult> OnPostChatAsync()
    {
        ChatRequest? chat;
        try
        {
            chat = await JsonSerializer.DeserializeAsync<ChatRequest>(Request.Body, GatewayJson.Options, HttpContext.RequestAborted);
        }
        catch (JsonException)
        {
            chat = null;
        }
        if (chat is not { Model.Length: > 0, Messages.Count: > 0 })
        {
            return new GatewayProblem(StatusCodes.Status400BadRequest, "Incomplete request", "Choose a model and write a message.").ToResult();
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions")
        {
            Content = JsonContent.Create(new
            {
                model = chat.Model,
                messages = chat.Messages.Select(m => new { role = m.Role, content = m.Content }),
                temperature = chat.Temperature,
                top_p = chat.TopP,
                max_tokens = chat.MaxTokens,
                stream = true,
            }, options: new JsonSerializerOptions { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull }),
        };
        await relay.RelayAsync(request, HttpContext);
        return new EmptyResult();
    }
}
