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

/// <summary>Who is calling: the API key id the gateway forwards once it authenticates callers.</summary>
internal static class Caller
{
    public static string Of(HttpContext http) =>
        http.Request.Headers["X-Assistant-Key-Id"].FirstOrDefault() is { Length: > 0 } keyId ? keyId : "anonymous";
}
