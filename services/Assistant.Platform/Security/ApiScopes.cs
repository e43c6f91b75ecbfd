using Microsoft.AspNetCore.Builder;

namespace Assistant.Platform.Security;

/// <summary>The scopes an API key can carry; each route declares the one it needs.</summary>
public static class ApiScopes
{
    public const string Admin = "admin";
    public const string Train = "train";
    public const string Read = "read";
    public const string Infer = "infer";

    /// <summary>Declares the scope a caller's key must have; enforced where keys are checked (the gateway).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder endpoint, string scope) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new RequiredScope(scope));
}

public sealed record RequiredScope(string Scope);
