using Assistant.Platform.Security;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.AspNetCore.Routing.Template;
using Yarp.ReverseProxy.Model;

namespace Assistant.Gateway;

public enum AccessKind
{
    /// <summary>Anyone may pass: health, and the web app (which will log people in with a key itself).</summary>
    Open,
    /// <summary>Any valid key: routes that declare no scope, and paths no route matches (the backend answers 404).</summary>
    AnyKey,
    /// <summary>A valid key holding <see cref="Access.Scope"/> (or a scope that implies it).</summary>
    Scope,
    /// <summary>The training API's scope table has not loaded yet: nothing under /api can be judged.</summary>
    Unavailable,
}

public readonly record struct Access(AccessKind Kind, string? Scope = null)
{
    public static readonly Access Open = new(AccessKind.Open);
    public static readonly Access AnyKey = new(AccessKind.AnyKey);
    public static readonly Access Unavailable = new(AccessKind.Unavailable);

    public static Access Of(string? scope) => scope switch
    {
        null => AnyKey,
        ApiScopes.NoKey => Open,
        _ => new Access(AccessKind.Scope, scope),
    };
}

/// <summary>
/// What a request needs, decided from where it is going. Routes proxied to the training API need the scope the API
/// declares for them (its table, loaded by <see cref="ScopeTableLoader"/>); <c>/v1</c> and <c>/generate</c> need
/// <c>infer</c>; the gateway's own endpoints carry their scope as metadata. Anything else needs a valid key.
/// </summary>
public sealed class ScopeRules
{
    private static readonly string[] GatewayHealthPaths = ["/health", "/alive"];
    private volatile ScopeTable? _table;

    public bool Loaded => _table is not null;

    public void Load(ScopeTable table) => _table = table;

    public Access For(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (endpoint?.Metadata.GetMetadata<RouteModel>() is { } proxied)
        {
            return proxied.Config.RouteId switch
            {
                GatewayRoutes.ApiRoute => _table?.Find(context.Request.Method, context.Request.Path) ?? Access.Unavailable,
                GatewayRoutes.OpenAiRoute or GatewayRoutes.GenerateRoute => Access.Of(ApiScopes.Infer),
                // The web app's pages are open; it will ask people for a key and call the API with it (a later issue).
                GatewayRoutes.WebRoute => Access.Open,
                _ => Access.AnyKey,
            };
        }
        if (endpoint?.Metadata.GetMetadata<RequiredScope>() is { } required)
        {
            return Access.Of(required.Scope);
        }
        foreach (var health in GatewayHealthPaths)
        {
            if (context.Request.Path.Equals(health, StringComparison.OrdinalIgnoreCase))
            {
                return Access.Open;
            }
        }
        return Access.AnyKey;
    }
}

/// <summary>
/// The training API's routes matched the way ASP.NET routing matches them: by method and route pattern, the most
/// specific pattern first (<c>/api/jobs/compare</c> before <c>/api/jobs/{id}</c>). Route constraints are not
/// checked: a path that only fails a constraint reaches the API's 404 with the scope of the route it resembles.
/// </summary>
public sealed class ScopeTable
{
    private readonly Dictionary<string, Rule[]> _bySection;
    private readonly Dictionary<string, Rule[]>.AlternateLookup<ReadOnlySpan<char>> _sectionLookup;
    private readonly Rule[] _anySection;

    private sealed record Rule(string? Method, TemplateMatcher Matcher, decimal Precedence, Access Access, string Route);

    private ScopeTable(Dictionary<string, Rule[]> bySection, Rule[] anySection)
    {
        _bySection = bySection;
        _sectionLookup = bySection.GetAlternateLookup<ReadOnlySpan<char>>();
        _anySection = anySection;
    }

    public int Count { get; private init; }

    public static ScopeTable Build(IEnumerable<RouteScope> rows)
    {
        var rules = rows.Select(row =>
        {
            var template = new RouteTemplate(RoutePatternFactory.Parse(row.Route));
            return (Section: SectionOf(template),
                Rule: new Rule(row.Method, new TemplateMatcher(template, new RouteValueDictionary()), RoutePrecedence.ComputeInbound(template), Access.Of(row.Scope), row.Route));
        }).ToList();
        // Rules whose section is a parameter could match any path: every section's list holds them too.
        var anySection = rules.Where(r => r.Section is null).Select(r => r.Rule).ToList();
        var bySection = rules.Where(r => r.Section is not null).GroupBy(r => r.Section!, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => Ordered(g.Select(r => r.Rule).Concat(anySection)), StringComparer.OrdinalIgnoreCase);
        return new ScopeTable(bySection, Ordered(anySection)) { Count = rules.Count };
    }

    /// <summary>The access the route matching this request declares; <see cref="Access.AnyKey"/> when none matches.</summary>
    public Access Find(string method, PathString path)
    {
        var rules = _sectionLookup.TryGetValue(SectionOf(path.Value), out var section) ? section : _anySection;
        RouteValueDictionary? values = null;
        foreach (var rule in rules)
        {
            if (rule.Method is not null && !string.Equals(rule.Method, method, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            values ??= new RouteValueDictionary();
            if (rule.Matcher.TryMatch(path, values))
            {
                return rule.Access;
            }
            values.Clear();
        }
        return Access.AnyKey;
    }

    private static Rule[] Ordered(IEnumerable<Rule> rules) => [.. rules.OrderBy(r => r.Precedence).ThenBy(r => r.Route, StringComparer.Ordinal)];

    /// <summary>The literal second segment of a pattern (<c>jobs</c> in <c>/api/jobs/{id}</c>), or null.</summary>
    private static string? SectionOf(RouteTemplate template) =>
        template.Segments.Count > 1 && template.Segments[1].IsSimple && template.Segments[1].Parts[0].IsLiteral
            ? template.Segments[1].Parts[0].Text
            : null;

    /// <summary>The second segment of a path: <c>jobs</c> in <c>/api/jobs/ftjob-1/cancel</c>.</summary>
    private static ReadOnlySpan<char> SectionOf(string? path)
    {
        var rest = path.AsSpan().TrimStart('/');
        var first = rest.IndexOf('/');
        if (first < 0)
        {
            return [];
        }
        rest = rest[(first + 1)..];
        var end = rest.IndexOf('/');
        return end < 0 ? rest : rest[..end];
    }
}
