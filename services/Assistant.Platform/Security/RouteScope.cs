namespace Assistant.Platform.Security;

/// <summary>
/// One row of the training API's scope table (<c>GET /api/scopes</c>): the method and route pattern of an endpoint
/// and the scope a key needs to call it (<see cref="ApiScopes.NoKey"/> for routes open to all; null when the endpoint
/// declares none, which the gateway treats as "any valid key"). The gateway enforces what this table says.
/// </summary>
/// <param name="Method">The HTTP method, or null when the endpoint takes any.</param>
/// <param name="Route">The route pattern, e.g. <c>/api/jobs/{id}/cancel</c>.</param>
public sealed record RouteScope(string? Method, string Route, string? Scope, string? Name);
