using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Assistant.Platform.Persistence;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Assistant.Platform.Security;

/// <summary>What a presented key turned out to be.</summary>
public enum ApiKeyState
{
    Valid,
    Unknown,
    Expired,
    Revoked,
}

/// <summary>A key someone asked for: values checked by <see cref="ApiKeys.Validate"/> before anything is stored.</summary>
public sealed record NewApiKey(string Name, IReadOnlyList<string> Scopes, DateTimeOffset? ExpiresAt, int? RequestsPerMinute);

/// <summary>A key request the caller can fix; <see cref="Param"/> names the field at fault.</summary>
public sealed class ApiKeyRequestException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}

/// <summary>The request is fine but the key's state refuses it (the bootstrap key cannot be revoked through the API).</summary>
public sealed class ApiKeyConflictException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}

/// <summary>
/// The rules of API keys, free of storage: the format (<c>asst_</c> + 43 base64url characters of 32 random bytes),
/// the SHA-256 that identifies a key, whether a stored key is usable now, and what a new key may ask for.
/// </summary>
public static class ApiKeys
{
    public const string KeyPrefix = "asst_";
    /// <summary>Characters of a key shown in lists: "asst_" and 7 more, enough to tell keys apart, useless to guess with.</summary>
    public const int PrefixLength = 12;
    public const int MaxNameLength = 100;
    public const string BootstrapName = "admin (AppHost parameter)";

    /// <summary>Headers the gateway sets on every request it forwards for an authenticated caller (never the key).</summary>
    public const string IdHeader = "X-Api-Key-Id";
    /// <summary>The key's name, percent-encoded (names may hold any text; header values must be ASCII).</summary>
    public const string NameHeader = "X-Api-Key-Name";

    private const int RandomBytes = 32;
    private static readonly int KeyLength = KeyPrefix.Length + Base64Url.GetEncodedLength(RandomBytes);
    /// <summary>Longer tokens are refused unread: nothing legitimate is that long, and hashing them costs.</summary>
    public const int MaxTokenLength = 512;

    /// <summary>A new random key; its plaintext is shown once and never stored.</summary>
    public static string Generate() => KeyPrefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    /// <summary>Whether <paramref name="token"/> has the shape of a generated key (no lookup needed to refuse others).</summary>
    public static bool IsWellFormed(ReadOnlySpan<char> token)
    {
        if (token.Length != KeyLength || !token.StartsWith(KeyPrefix, StringComparison.Ordinal))
        {
            return false;
        }
        foreach (var c in token[KeyPrefix.Length..])
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_')
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>SHA-256 of the key's UTF-8 bytes: how a key is found and compared, so the store never holds a key.</summary>
    public static byte[] Hash(ReadOnlySpan<char> key)
    {
        if (key.Length > MaxTokenLength)
        {
            throw new ArgumentException($"A key is at most {MaxTokenLength} characters.", nameof(key));
        }
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(key.Length)];
        var written = Encoding.UTF8.GetBytes(key, utf8);
        return SHA256.HashData(utf8[..written]);
    }

    public static string PrefixOf(string key) => key.Length <= PrefixLength ? key : key[..PrefixLength];

    public static ApiKeyState StateOf(ApiKey? key, DateTimeOffset now) => StateOf(key is not null, key?.RevokedAt, key?.ExpiresAt, now);

    /// <summary>Revocation wins over expiry: a revoked key says so even after it would have expired.</summary>
    public static ApiKeyState StateOf(bool exists, DateTimeOffset? revokedAt, DateTimeOffset? expiresAt, DateTimeOffset now) =>
        !exists ? ApiKeyState.Unknown
        : revokedAt is not null ? ApiKeyState.Revoked
        : expiresAt is { } expires && expires <= now ? ApiKeyState.Expired
        : ApiKeyState.Valid;

    /// <summary>The request with its values normalised (name trimmed, scopes known, unique and in order); a problem names the field.</summary>
    public static NewApiKey Validate(NewApiKey request, DateTimeOffset now)
    {
        var name = request.Name.Trim();
        if (name.Length is 0 or > MaxNameLength)
        {
            throw new ApiKeyRequestException("name", $"name must be 1 to {MaxNameLength} characters.");
        }
        if (name.Any(char.IsControl))
        {
            throw new ApiKeyRequestException("name", "name must not contain control characters.");
        }
        if (request.Scopes.Count == 0)
        {
            throw new ApiKeyRequestException("scopes", $"scopes must name at least one of {string.Join(", ", ApiScopes.All)}.");
        }
        foreach (var scope in request.Scopes)
        {
            if (!ApiScopes.IsKnown(scope))
            {
                throw new ApiKeyRequestException("scopes", $"'{scope}' is not a scope: use {string.Join(", ", ApiScopes.All)}.");
            }
        }
        if (request.ExpiresAt is { } expires && expires <= now)
        {
            throw new ApiKeyRequestException("expires_at", $"expires_at must be in the future (it is {expires:O}; now is {now:O}).");
        }
        if (request.RequestsPerMinute is <= 0)
        {
            throw new ApiKeyRequestException("requests_per_minute", "requests_per_minute must be a whole number above 0.");
        }
        var scopes = ApiScopes.All.Where(request.Scopes.Contains).ToArray();
        return request with { Name = name, Scopes = scopes };
    }
}

/// <summary>API keys in Postgres: create, find by hash, list, revoke, the bootstrap admin key, and when keys were used.</summary>
public sealed class ApiKeyStore(PlatformDbContext db)
{
    /// <summary>Now, to Postgres' microsecond, so an answer shows the same times a later read of the row does.</summary>
    private static DateTimeOffset Now() => ToMicroseconds(DateTimeOffset.UtcNow);

    private static DateTimeOffset ToMicroseconds(DateTimeOffset time) => time.AddTicks(-(time.Ticks % TimeSpan.TicksPerMicrosecond));

    /// <summary>Stores a new key; returns the row and the plaintext, which exists only in this answer.</summary>
    public async Task<(ApiKey Key, string Plaintext)> CreateAsync(NewApiKey request, CancellationToken ct)
    {
        var now = Now();
        var valid = ApiKeys.Validate(request, now);
        var plaintext = ApiKeys.Generate();
        var key = new ApiKey
        {
            Id = Guid.CreateVersion7(),
            Name = valid.Name,
            Prefix = ApiKeys.PrefixOf(plaintext),
            Hash = ApiKeys.Hash(plaintext),
            Scopes = [.. valid.Scopes],
            CreatedAt = now,
            ExpiresAt = valid.ExpiresAt is { } expires ? ToMicroseconds(expires) : null,
            RequestsPerMinute = valid.RequestsPerMinute,
        };
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync(ct);
        return (key, plaintext);
    }

    public Task<ApiKey?> FindByHashAsync(byte[] hash, CancellationToken ct) =>
        db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Hash == hash, ct);

    public Task<ApiKey?> FindAsync(Guid id, CancellationToken ct) =>
        db.ApiKeys.AsNoTracking().SingleOrDefaultAsync(k => k.Id == id, ct);

    public Task<List<ApiKey>> ListAsync(CancellationToken ct) =>
        db.ApiKeys.AsNoTracking().OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(ct);

    /// <summary>Revokes a key (idempotent: a revoked key keeps its first revocation time).</summary>
    /// <exception cref="ApiKeyConflictException">The bootstrap key: only changing the AppHost parameter replaces it.</exception>
    public async Task<ApiKey?> RevokeAsync(Guid id, CancellationToken ct)
    {
        var key = await db.ApiKeys.SingleOrDefaultAsync(k => k.Id == id, ct);
        if (key is null || key.RevokedAt is not null)
        {
            return key;
        }
        if (key.IsBootstrap)
        {
            throw new ApiKeyConflictException("id", "This is the bootstrap admin key: change the admin-api-key parameter to rotate it.");
        }
        key.RevokedAt = Now();
        await db.SaveChangesAsync(ct);
        return key;
    }

    /// <summary>
    /// Makes <paramref name="plaintext"/> the bootstrap admin key: its row is created (or restored) with the admin
    /// scope, and any other bootstrap key stops working. Returns the key and the ids of the keys it retired.
    /// </summary>
    public async Task<(ApiKey Key, IReadOnlyList<Guid> Retired)> UpsertBootstrapAsync(string plaintext, CancellationToken ct)
    {
        var hash = ApiKeys.Hash(plaintext);
        var now = Now();
        var retired = await db.ApiKeys.Where(k => k.IsBootstrap && k.RevokedAt == null && k.Hash != hash).Select(k => k.Id).ToListAsync(ct);
        if (retired.Count > 0)
        {
            await db.ApiKeys.Where(k => retired.Contains(k.Id)).ExecuteUpdateAsync(s => s.SetProperty(k => k.RevokedAt, now), ct);
        }
        for (var attempt = 0; ; attempt++)
        {
            var key = await db.ApiKeys.SingleOrDefaultAsync(k => k.Hash == hash, ct);
            if (key is not null)
            {
                // The parameter is the truth for this key: whatever the row says, it is the live admin key.
                key.IsBootstrap = true;
                key.RevokedAt = null;
                key.ExpiresAt = null;
                key.Scopes = [ApiScopes.Admin];
                key.Name = ApiKeys.BootstrapName;
                await db.SaveChangesAsync(ct);
                return (key, retired);
            }
            db.ApiKeys.Add(new ApiKey
            {
                Id = Guid.CreateVersion7(),
                Name = ApiKeys.BootstrapName,
                Prefix = ApiKeys.PrefixOf(plaintext),
                Hash = hash,
                Scopes = [ApiScopes.Admin],
                CreatedAt = now,
                IsBootstrap = true,
            });
            try
            {
                await db.SaveChangesAsync(ct);
            }
            catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } && attempt < 3)
            {
                // Another gateway replica stored it first: read theirs.
                db.ChangeTracker.Clear();
                continue;
            }
            return (await db.ApiKeys.SingleAsync(k => k.Hash == hash, ct), retired);
        }
    }

    /// <summary>Records when keys were last used (only moving forward, so late writes never move it back).</summary>
    public async Task RecordUseAsync(IReadOnlyCollection<KeyValuePair<Guid, DateTimeOffset>> uses, CancellationToken ct)
    {
        foreach (var (id, at) in uses)
        {
            await db.ApiKeys.Where(k => k.Id == id && (k.LastUsedAt == null || k.LastUsedAt < at))
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, at), ct);
        }
    }
}
