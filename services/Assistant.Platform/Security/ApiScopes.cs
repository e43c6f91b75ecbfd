using Microsoft.AspNetCore.Builder;

namespace Assistant.Platform.Security;

/// <summary>
/// The scopes an API key can carry; each route declares the one it needs. <c>admin</c> implies every scope and
/// <c>train</c> implies <c>read</c>: a key that may change things may also look at them.
/// </summary>
public static class ApiScopes
{
    public const string Admin = "admin";
    public const string Train = "train";
    public const string Read = "read";
    public const string Infer = "infer";

    /// <summary>Not a scope a key carries: the mark of a route that needs no key at all (health).</summary>
    public const string NoKey = "none";

    /// <summary>Every scope a key can be given, in the order lists show them.</summary>
    public static IReadOnlyList<string> All { get; } = [Admin, Train, Read, Infer];

    public static bool IsKnown(string scope) => scope is Admin or Train or Read or Infer;

    /// <summary>Whether a key holding <paramref name="held"/> may call a route that requires <paramref name="required"/>.</summary>
    public static bool Grants(IReadOnlyList<string> held, string required)
    {
        for (var i = 0; i < held.Count; i++)
        {
            var scope = held[i];
            if (scope == required || scope == Admin || (scope == Train && required == Read))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Declares the scope a caller's key must have; enforced where keys are checked (the gateway).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder endpoint, string scope) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new RequiredScope(scope));

    /// <summary>Declares that a route needs no key (platform health); the gateway lets anyone reach it.</summary>
    public static TBuilder AllowWithoutKey<TBuilder>(this TBuilder endpoint) where TBuilder : IEndpointConventionBuilder =>
        endpoint.WithMetadata(new RequiredScope(NoKey));
}

public sealed record RequiredScope(string Scope);
