using Assistant.Platform.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.TrainingApi.Apis;

/// <summary>Who is calling, as the gateway forwards it (never the caller's key).</summary>
public sealed record CallerDto(string? KeyId, string? KeyName, bool CredentialsForwarded);

/// <summary>
/// The API's side of authentication: the table of scopes its routes declare, which the gateway loads and enforces
/// (one source of truth: the <c>RequireScope</c> next to each route), and the caller the gateway vouched for.
/// </summary>
public static class SecurityApi
{
    public static IEndpointRouteBuilder MapSecurityApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Security");
        api.MapGet("/scopes", Scopes).WithName("ListRouteScopes").RequireScope(ApiScopes.Read)
            .WithSummary("Every API route with the scope a key needs to call it; the gateway enforces this table.");
        api.MapGet("/whoami", WhoAmI).WithName("GetCaller").RequireScope(ApiScopes.Read)
            .WithSummary("The API key the gateway authenticated for this request (id and name, never the key).");
        return app;
    }

    private static Ok<ListDto<RouteScope>> Scopes(EndpointDataSource endpoints) =>
        TypedResults.Ok(new ListDto<RouteScope>(Table(endpoints.Endpoints), HasMore: false));

    /// <summary>The <c>/api</c> routes with their methods and declared scopes, as the gateway needs them.</summary>
    public static List<RouteScope> Table(IEnumerable<Endpoint> endpoints) =>
        [.. from endpoint in endpoints.OfType<RouteEndpoint>()
            let route = endpoint.RoutePattern.RawText ?? ""
            where route.StartsWith("/api/", StringComparison.OrdinalIgnoreCase)
            let scope = endpoint.Metadata.GetMetadata<RequiredScope>()?.Scope
            let name = endpoint.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName
            from method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods is { Count: > 0 } methods ? methods.Cast<string?>() : [null]
            orderby route, method
            select new RouteScope(method, route, scope, name)];

    private static Ok<CallerDto> WhoAmI(HttpContext http) => TypedResults.Ok(new CallerDto(
        Caller.KeyIdOf(http),
        Caller.KeyNameOf(http),
        // The gateway strips credentials before forwarding; true means someone reached the API around it.
        http.Request.Headers.Authorization.Count > 0));
}
