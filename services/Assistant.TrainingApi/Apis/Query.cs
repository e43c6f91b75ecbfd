namespace Assistant.TrainingApi.Apis;

/// <summary>Query-string values parsed here rather than by binding, so a bad one is a problem naming it.</summary>
internal static class Query
{
    public static int Int(string? text, string name, int fallback, int minimum, int maximum) =>
        text switch
        {
            null or "" => fallback,
            _ when int.TryParse(text, out var value) && value >= minimum && value <= maximum => value,
            _ => throw ApiProblem.Invalid(name, $"{name} must be a whole number from {minimum} to {maximum}, not '{text}'."),
        };

    public static bool? Bool(string? text, string name) =>
        text switch
        {
            null or "" => null,
            "true" => true,
            "false" => false,
            _ => throw ApiProblem.Invalid(name, $"{name} must be true or false, not '{text}'."),
        };

    /// <summary>A comma-separated list, blanks dropped.</summary>
    public static string[] List(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>
/// Who is calling: the id of the API key the gateway authenticated (the gateway sets these headers itself and drops
/// any a caller sent), or "anonymous" on routes that need no key.
/// </summary>
internal static class Caller
{
    public static string Of(HttpContext http) => KeyIdOf(http) ?? "anonymous";

    public static string? KeyIdOf(HttpContext http) =>
        http.Request.Headers[Assistant.Platform.Security.ApiKeys.IdHeader].FirstOrDefault() is { Length: > 0 } keyId ? keyId : null;

    /// <summary>The key's name (sent percent-encoded: names may hold any text, header values must be ASCII).</summary>
    public static string? KeyNameOf(HttpContext http) =>
        http.Request.Headers[Assistant.Platform.Security.ApiKeys.NameHeader].FirstOrDefault() is { Length: > 0 } name ? Uri.UnescapeDataString(name) : null;
}
