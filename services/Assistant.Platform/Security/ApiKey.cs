namespace Assistant.Platform.Security;

/// <summary>
/// An API key as the platform keeps it: never the key itself, only its SHA-256 and the first characters a person
/// recognises it by. The plaintext exists once, in the answer that creates it.
/// </summary>
public sealed class ApiKey
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    /// <summary>The key's first <see cref="ApiKeys.PrefixLength"/> characters, shown in lists.</summary>
    public required string Prefix { get; set; }
    /// <summary>SHA-256 of the whole key (unique).</summary>
    public required byte[] Hash { get; set; }
    public required string[] Scopes { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? ExpiresAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    /// <summary>When the key last authenticated a request, to the minute (written off the request path).</summary>
    public DateTimeOffset? LastUsedAt { get; set; }
    /// <summary>This key's own rate limit; null means the gateway's default.</summary>
    public int? RequestsPerMinute { get; set; }
    /// <summary>The admin key the AppHost parameter holds: it changes with the parameter, never through the API.</summary>
    public bool IsBootstrap { get; set; }
}
