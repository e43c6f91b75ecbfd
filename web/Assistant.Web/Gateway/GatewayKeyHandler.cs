using System.Net;
using System.Net.Http.Headers;
using Assistant.Web.SignIn;
using Microsoft.Extensions.Http.Resilience;

namespace Assistant.Web.Gateway;

/// <summary>
/// Sends the signed-in user's API key with every gateway call, so the UI can do only what that key may. A 401 to
/// that key means it was revoked or expired: <see cref="GatewayKeyRefusedException"/> ends the session (see
/// <see cref="ApiKeySignIn.UseRefusedKeySignOut"/>).
/// </summary>
public sealed class GatewayKeyHandler(IHttpContextAccessor accessor) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
    {
        var key = accessor.HttpContext?.User.FindFirst(ApiKeySignIn.KeyClaim)?.Value;
        // A request that brings its own key (checking one at sign-in) keeps it.
        var usesSessionKey = request.Headers.Authorization is null && key is not null;
        if (usesSessionKey)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        var response = await base.SendAsync(request, ct);
        if (usesSessionKey && response.StatusCode == HttpStatusCode.Unauthorized)
        {
            var problem = await GatewayProblem.ReadAsync(response, ct);
            response.Dispose();
            throw new GatewayKeyRefusedException(problem.Detail);
        }
        return response;
    }
}

public static class GatewayClients
{
    /// <summary>The named client for long streams (job events, chat): no timeout and no retries around a stream.</summary>
    public const string Streams = "gateway-streams";

    /// <summary>
    /// The clients that reach the gateway: <see cref="PlatformApi"/> and <see cref="PlatformClient"/> (retries only for
    /// safe methods: a job is never created twice) and <see cref="Streams"/>.
    /// </summary>
    // RemoveAllResilienceHandlers is marked experimental; it is the documented way to replace the service defaults' handler.
#pragma warning disable EXTEXP0001
    public static WebApplicationBuilder AddGatewayClients(this WebApplicationBuilder builder, Uri gateway)
    {
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddTransient<GatewayKeyHandler>();
        foreach (var client in new[] { builder.Services.AddHttpClient<PlatformApi>(c => c.BaseAddress = gateway), builder.Services.AddHttpClient<PlatformClient>(c => c.BaseAddress = gateway) })
        {
            client.RemoveAllResilienceHandlers().AddStandardResilienceHandler(o => o.Retry.DisableForUnsafeHttpMethods());
            client.AddHttpMessageHandler<GatewayKeyHandler>();
        }
        builder.Services.AddHttpClient(Streams, client =>
            {
                client.BaseAddress = gateway;
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .RemoveAllResilienceHandlers()
            .AddHttpMessageHandler<GatewayKeyHandler>();
        builder.Services.AddSingleton<EventStreamRelay>();
        return builder;
    }
#pragma warning restore EXTEXP0001
}
