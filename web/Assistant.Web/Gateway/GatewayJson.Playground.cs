namespace Assistant.Web.Gateway;

/// <summary>One entry of <c>GET /v1/models</c> as the playground shows it: the id to send, and the version behind it.</summary>
/// <param name="Alias">The alias the version is served for; null for a version loaded on demand (its id is <c>name@N</c>).</param>
public sealed record ServedModelCard(string Id, int? Version, string? Alias, string? Root);

public sealed record ServedModelCardList(IReadOnlyList<ServedModelCard> Data);
