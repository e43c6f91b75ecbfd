namespace Assistant.Web.Gateway;

public sealed partial class PlatformApi
{
    /// <summary>What inference serves now, with the version and alias behind each id (OpenAI's <c>GET /v1/models</c>).</summary>
    public Task<ServedModelCardList> ListServedModelCardsAsync(CancellationToken ct) => GetAsync<ServedModelCardList>("v1/models", ct);
}
