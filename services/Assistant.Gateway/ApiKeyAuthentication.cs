using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using System.Text.Json;
using Assistant.Platform.Security;
using Microsoft.Extensions.Primitives;

namespace Assistant.Gateway;

/// <summary><c>Auth</c> configuration: the bootstrap admin key (the AppHost's <c>admin-api-key</c> parameter).</summary>
public sealed class AuthOptions
{
    [Required, MinLength(16), MaxLength(ApiKeys.MaxTokenLength)]
    public string AdminApiKey { get; set; } = "";
}

/// <summary>
/// Checks the caller's API key before a request goes anywhere: 401 when it is missing, malformed, unknown, expired
/// or revoked, 403 when it lacks the scope the route needs. Both are decided from the route alone, before any
/// backend is asked, so they never tell whether the addressed resource exists. A request that passes carries its
/// <see cref="VerifiedKey"/> as a feature (for forwarding and rate limiting), and the key id in its trace and logs.
/// </summary>
public sealed class ApiKeyAuthentication(
    RequestDelegate next, ScopeRules rules, ApiKeyCache keys, BootstrapKey bootstrap, KeyUsage usage, ILogger<ApiKeyAuthentication> logger)
{
    public const string KeyIdTag = "assistant.api_key.id";
    public const string KeyNameTag = "assistant.api_key.name";

    public async Task InvokeAsync(HttpContext context)
    {
        var access = rules.For(context);
        switch (access.Kind)
        {
            case AccessKind.Open:
                await next(context);
                return;
            case AccessKind.Unavailable:
                await GatewayProblems.UnavailableAsync(context, "The gateway is still loading the API's route table; try again in a moment.");
                return;
        }

        if (!TryReadBearer(context.Request.Headers.Authorization, out var token))
        {
            var missing = context.Request.Headers.Authorization.Count == 0;
            await GatewayProblems.UnauthorizedAsync(context, missing
                ? "This request needs an API key: send it as 'Authorization: Bearer <key>'."
                : "The Authorization header must be 'Bearer <key>' with one API key.", missing);
            return;
        }
        var hash = ApiKeys.Hash(token);
        if (!keys.MayExist(token, hash))
        {
            await GatewayProblems.UnauthorizedAsync(context, $"That is not an Assistant API key (they start with '{ApiKeys.KeyPrefix}').");
            return;
        }
        VerifiedKey? key;
        try
        {
            key = await keys.FindAsync(hash);
        }
        catch (KeyStoreUnavailableException)
        {
            await GatewayProblems.UnavailableAsync(context, "API keys cannot be checked right now (the platform database is unavailable); try again shortly.");
            return;
        }

        var now = DateTimeOffset.UtcNow;
        switch (ApiKeys.StateOf(key is not null, key?.RevokedAt, key?.ExpiresAt, now))
        {
            case ApiKeyState.Unknown when !bootstrap.Stored && keys.IsBootstrapHash(hash):
                // The admin key right after start, before BootstrapKey has stored it: not refused, just early.
                await GatewayProblems.UnavailableAsync(context, "The gateway is still starting (storing the admin key); try again in a moment.");
                return;
            case ApiKeyState.Unknown:
                await GatewayProblems.UnauthorizedAsync(context, "The API key is not valid.");
                return;
            case ApiKeyState.Revoked:
                await GatewayProblems.UnauthorizedAsync(context, $"The API key was revoked at {key!.RevokedAt:O}.");
                return;
            case ApiKeyState.Expired:
                await GatewayProblems.UnauthorizedAsync(context, $"The API key expired at {key!.ExpiresAt:O}.");
                return;
        }
        var caller = key!;
        if (access.Kind == AccessKind.Scope && !ApiScopes.Grants(caller.Scopes, access.Scope!))
        {
            await GatewayProblems.ForbiddenAsync(context,
                $"The API key '{caller.Name}' has scope {string.Join(", ", caller.Scopes)}; this request needs '{access.Scope}'.");
            return;
        }

        context.Features.Set(caller);
        Activity.Current?.SetTag(KeyIdTag, caller.IdText).SetTag(KeyNameTag, caller.Name);
        usage.Touch(caller.Id, now);
        using (logger.BeginScope("ApiKeyId:{ApiKeyId}", caller.IdText))
        {
            await next(context);
        }
    }

    /// <summary>The token of a single <c>Authorization: Bearer</c> header (the scheme in any case).</summary>
    public static bool TryReadBearer(StringValues header, out string token)
    {
        token = "";
        if (header.Count != 1 || header[0] is not { } value)
        {
            return false;
        }
        const string scheme = "Bearer ";
        if (!value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var candidate = value.AsSpan(scheme.Length).Trim();
        if (candidate.IsEmpty || candidate.Length > ApiKeys.MaxTokenLength || candidate.ContainsAny(' ', '\t', ','))
        {
            return false;
        }
        token = candidate.ToString();
        return true;
    }
}

public static class ApiKeyAuthenticationExtensions
{
    /// <summary>Keys, their cache and revocations, the bootstrap admin key, the scope table and the keys API's JSON shape.</summary>
    public static WebApplicationBuilder AddApiKeyAuthentication(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<AuthOptions>().BindConfiguration("Auth").ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<ApiKeyStore>();
        builder.Services.AddSingleton<ApiKeyCache>();
        builder.Services.AddSingleton<ScopeRules>();
        builder.Services.AddSingletonHostedService<KeyRevocations>();
        builder.Services.AddSingletonHostedService<BootstrapKey>();
        builder.Services.AddSingletonHostedService<KeyUsage>();
        builder.Services.AddHostedService<ScopeTableLoader>();
        builder.Services.AddHealthChecks().AddCheck<GatewayReadiness>("api-keys");
        // snake_case on the wire, like the training API and OpenAI.
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        return builder;
    }

    public static IApplicationBuilder UseApiKeyAuthentication(this IApplicationBuilder app) => app.UseMiddleware<ApiKeyAuthentication>();

    /// <summary>A background service that other parts also call (one instance for both).</summary>
    private static IServiceCollection AddSingletonHostedService<T>(this IServiceCollection services) where T : class, IHostedService
    {
        services.AddSingleton<T>();
        services.AddHostedService(sp => sp.GetRequiredService<T>());
        return services;
    }
}
