using System.Net.Http.Json;
using System.Text.Json;
using Assistant.Web.Gateway;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Assistant.Web.Pages;

public sealed record ChatMessage(string Role, string Content);

/// <summary>What the playground sends; the web app forwards it to <c>/v1/chat/completions</c> with <c>stream: true</c>.</summary>
public sealed record ChatRequest(string? Model, IReadOnlyList<ChatMessage>? Messages, double? Temperature, double? TopP, int? MaxTokens);

public sealed class PlaygroundModel(PlatformApi api, EventStreamRelay relay) : PageModel
{
    public IReadOnlyList<ServedModel> Served { get; private set; } = [];
    public string? Error { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        try
        {
            Served = (await api.ListServedModelsAsync(ct)).Data;
        }
        catch (GatewayProblem problem)
        {
            Error = problem.Detail;
        }
    }

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
