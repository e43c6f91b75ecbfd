using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Assistant.Platform.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Assistant.Gateway;

/// <summary>A key as the API shows it. <see cref="Key"/>, the plaintext, is present only in the answer that creates it.</summary>
public sealed record ApiKeyDto(
    Guid Id, string Name, IReadOnlyList<string> Scopes, string Prefix,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Key,
    DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt,
    int? RequestsPerMinute, bool Bootstrap)
{
    [JsonPropertyOrder(-1)]
    public string Object => "api_key";

    public static ApiKeyDto Of(ApiKey key, string? plaintext = null) => new(
        key.Id, key.Name, key.Scopes, key.Prefix, plaintext, key.CreatedAt, key.ExpiresAt, key.RevokedAt, key.LastUsedAt,
        key.RequestsPerMinute, key.IsBootstrap);
}

public sealed record ApiKeyList(IReadOnlyList<ApiKeyDto> Data)
{
    [JsonPropertyOrder(-1)]
    public string Object => "list";
}

/// <summary>
/// <c>/api/keys</c>, served by the gateway itself (it owns keys and must evict a revoked one before answering), for
/// admin keys only. Create answers the key once; lists never hold it.
/// </summary>
public static class KeysApi
{
    public static IEndpointRouteBuilder MapKeysApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/keys").WithTags("API keys").RequireScope(ApiScopes.Admin);
        api.MapPost("/", Create).WithName("CreateApiKey")
            .WithSummary("Creates a key with scopes (admin, train, read, infer), an optional expiry and rate limit; the answer holds the key, once.");
        api.MapGet("/", List).WithName("ListApiKeys").WithSummary("Every key, revoked ones included, without the keys themselves.");
        api.MapGet("/{id}", Get).WithName("GetApiKey").WithSummary("One key.");
        api.MapDelete("/{id}", Revoke).WithName("RevokeApiKey")
            .WithSummary("Revokes a key: the very next request with it is refused, on every gateway replica.");
        return app;
    }

    private static async Task<Results<Created<ApiKeyDto>, ValidationProblem>> Create(HttpRequest request, ApiKeyStore store, ILoggerFactory loggers, CancellationToken ct)
    {
        NewApiKey asked;
        try
        {
            asked = await ReadAsync(request, ct);
        }
        catch (ApiKeyRequestException ex)
        {
            return GatewayProblems.Invalid(ex.Param, ex.Message);
        }
        try
        {
            var (key, plaintext) = await store.CreateAsync(asked, ct);
            loggers.CreateLogger(typeof(KeysApi)).LogInformation("API key {NewApiKeyId} created with scopes {Scopes}", key.Id, string.Join(",", key.Scopes));
            return TypedResults.Created($"/api/keys/{key.Id}", ApiKeyDto.Of(key, plaintext));
        }
        catch (ApiKeyRequestException ex)
        {
            return GatewayProblems.Invalid(ex.Param, ex.Message);
        }
    }

    private static async Task<Ok<ApiKeyList>> List(ApiKeyStore store, CancellationToken ct) =>
        TypedResults.Ok(new ApiKeyList([.. (await store.ListAsync(ct)).Select(k => ApiKeyDto.Of(k))]));

    private static async Task<Results<Ok<ApiKeyDto>, ProblemHttpResult>> Get(string id, ApiKeyStore store, CancellationToken ct) =>
        Guid.TryParse(id, out var keyId) && await store.FindAsync(keyId, ct) is { } key
            ? TypedResults.Ok(ApiKeyDto.Of(key))
            : NoSuchKey(id);

    private static async Task<Results<Ok<ApiKeyDto>, ProblemHttpResult>> Revoke(
        string id, ApiKeyStore store, KeyRevocations revocations, ILoggerFactory loggers, CancellationToken ct)
    {
        if (!Guid.TryParse(id, out var keyId))
        {
            return NoSuchKey(id);
        }
        try
        {
            if (await store.RevokeAsync(keyId, ct) is not { } key)
            {
                return NoSuchKey(id);
            }
            // Before answering: the caller may rely on the key being dead the moment this returns.
            await revocations.RevokedAsync(key.Id);
            loggers.CreateLogger(typeof(KeysApi)).LogInformation("API key {RevokedApiKeyId} revoked", key.Id);
            return TypedResults.Ok(ApiKeyDto.Of(key));
        }
        catch (ApiKeyConflictException ex)
        {
            return GatewayProblems.Conflict(ex.Param, ex.Message);
        }
    }

    private static ProblemHttpResult NoSuchKey(string id) => GatewayProblems.NotFound("id", $"No API key has id '{id}'.");

    /// <summary>The create request, field by field, so a wrong one is a problem naming it (values are checked by <see cref="ApiKeys.Validate"/>).</summary>
    private static async Task<NewApiKey> ReadAsync(HttpRequest request, CancellationToken ct)
    {
        JsonObject body;
        try
        {
            body = await JsonNode.ParseAsync(request.Body, cancellationToken: ct) as JsonObject
                ?? throw new ApiKeyRequestException("body", "The body must be a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new ApiKeyRequestException("body", $"The body is not valid JSON: {ex.Message}");
        }
        string? name = null;
        List<string>? scopes = null;
        DateTimeOffset? expiresAt = null;
        int? requestsPerMinute = null;
        foreach (var (field, value) in body)
        {
            switch (field)
            {
                case "name":
                    name = value is JsonValue v && v.TryGetValue<string>(out var text) ? text : throw new ApiKeyRequestException(field, "name must be a string.");
                    break;
                case "scopes":
                    scopes = value is JsonArray array && array.All(s => s is JsonValue sv && sv.TryGetValue<string>(out _))
                        ? [.. array.Select(s => s!.GetValue<string>())]
                        : throw new ApiKeyRequestException(field, $"scopes must be an array of scope names ({string.Join(", ", ApiScopes.All)}).");
                    break;
                case "expires_at":
                    expiresAt = value is null ? null
                        : value is JsonValue ev && ev.TryGetValue<string>(out var when)
                            && DateTimeOffset.TryParse(when, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed
                        : throw new ApiKeyRequestException(field, "expires_at must be an ISO 8601 time such as 2030-01-31T12:00:00Z.");
                    break;
                case "requests_per_minute":
                    requestsPerMinute = value is null ? null
                        : value is JsonValue rv && rv.TryGetValue<int>(out var rate) ? rate
                        : throw new ApiKeyRequestException(field, "requests_per_minute must be a whole number above 0.");
                    break;
                default:
                    throw new ApiKeyRequestException(field, $"'{field}' is not a field of this request.");
            }
        }
        return new NewApiKey(
            name ?? throw new ApiKeyRequestException("name", "name is required."),
            scopes ?? throw new ApiKeyRequestException("scopes", $"scopes is required: one or more of {string.Join(", ", ApiScopes.All)}."),
            expiresAt, requestsPerMinute);
    }
}
