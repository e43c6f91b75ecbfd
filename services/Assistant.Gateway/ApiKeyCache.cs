using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Assistant.Platform.Security;
using Microsoft.Extensions.Options;

namespace Assistant.Gateway;

/// <summary>A key as the gateway holds it after one lookup: what authorising and forwarding a request needs, never the key.</summary>
public sealed class VerifiedKey(ApiKey key)
{
    public Guid Id { get; } = key.Id;
    /// <summary>The id as text, made once: it goes into a header, a trace tag and a log scope on every request.</summary>
    public string IdText { get; } = key.Id.ToString();
    public string Name { get; } = key.Name;
    /// <summary>The name as the <see cref="ApiKeys.NameHeader"/> header carries it (percent-encoded).</summary>
    public string HeaderName { get; } = Uri.EscapeDataString(key.Name);
    public IReadOnlyList<string> Scopes { get; } = key.Scopes;
    public DateTimeOffset? ExpiresAt { get; } = key.ExpiresAt;
    public DateTimeOffset? RevokedAt { get; } = key.RevokedAt;
    public int? RequestsPerMinute { get; } = key.RequestsPerMinute;
    public bool IsBootstrap { get; } = key.IsBootstrap;
}

/// <summary>
/// Verified keys in memory, by hash, so a request with a known key costs no database round trip. A key found is
/// kept <see cref="KeptFor"/> (revocation evicts it at once, here and, through Redis, on every replica); a key not
/// found is remembered for <see cref="UnknownKeptFor"/> so a repeated bad key does not reach Postgres each time.
/// Concurrent requests with the same uncached key share one lookup, and lookups run at most
/// <see cref="MaxConcurrentLookups"/> at a time, so a flood of random keys queues here rather than in Postgres.
/// </summary>
public sealed class ApiKeyCache(IServiceScopeFactory scopes, IOptions<AuthOptions> options, ILogger<ApiKeyCache> logger)
{
    public static readonly TimeSpan KeptFor = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan UnknownKeptFor = TimeSpan.FromSeconds(5);
    public const int MaxEntries = 50_000;
    public const int MaxConcurrentLookups = 4;
    private static readonly TimeSpan LookupTimeout = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<HashKey, Entry> _entries = new();
    private readonly SemaphoreSlim _lookups = new(MaxConcurrentLookups);
    private readonly byte[] _bootstrapHash = ApiKeys.Hash(options.Value.AdminApiKey);
    private int _count;
    private int _sweeping;

    /// <summary>Whether the lookup for a hash can be skipped: only generated keys and the bootstrap key exist.</summary>
    public bool MayExist(ReadOnlySpan<char> token, byte[] hash) =>
        ApiKeys.IsWellFormed(token) || IsBootstrapHash(hash);

    /// <summary>Whether <paramref name="hash"/> is the AppHost's admin key (which <see cref="BootstrapKey"/> stores at start).</summary>
    public bool IsBootstrapHash(byte[] hash) => CryptographicOperations.FixedTimeEquals(hash, _bootstrapHash);

    /// <summary>The stored key with this hash, or null when none exists. Throws when the store cannot be asked.</summary>
    public ValueTask<VerifiedKey?> FindAsync(byte[] hash)
    {
        var id = HashKey.Of(hash);
        if (_entries.TryGetValue(id, out var cached) && cached.Lookup.IsCompletedSuccessfully && cached.ExpiresAt > Environment.TickCount64)
        {
            return ValueTask.FromResult(cached.Lookup.Result);
        }
        return new ValueTask<VerifiedKey?>(FindSlowAsync(id, hash));
    }

    /// <summary>Forgets a key at once (it was revoked): the next request with it is looked up again.</summary>
    public void Evict(Guid keyId)
    {
        foreach (var (id, entry) in _entries)
        {
            // A lookup still running may have read the row before the revocation: drop it too.
            if (!entry.Lookup.IsCompleted || (entry.Lookup.IsCompletedSuccessfully && entry.Lookup.Result?.Id == keyId))
            {
                Remove(id, entry);
            }
        }
    }

    private async Task<VerifiedKey?> FindSlowAsync(HashKey id, byte[] hash)
    {
        while (true)
        {
            var mine = new Entry();
            if (_entries.TryGetValue(id, out var current))
            {
                if (!current.Lookup.IsCompleted || current.ExpiresAt > Environment.TickCount64)
                {
                    return await current.Lookup; // someone else's lookup, running or fresh
                }
                if (!_entries.TryUpdate(id, mine, current))
                {
                    continue;
                }
            }
            else if (_entries.TryAdd(id, mine))
            {
                if (Interlocked.Increment(ref _count) > MaxEntries)
                {
                    Sweep();
                }
            }
            else
            {
                continue;
            }
            return await LoadAsync(id, hash, mine);
        }
    }

    private async Task<VerifiedKey?> LoadAsync(HashKey id, byte[] hash, Entry entry)
    {
        try
        {
            await _lookups.WaitAsync();
            ApiKey? row;
            try
            {
                using var timeout = new CancellationTokenSource(LookupTimeout);
                await using var scope = scopes.CreateAsyncScope();
                row = await scope.ServiceProvider.GetRequiredService<ApiKeyStore>().FindByHashAsync(hash, timeout.Token);
            }
            finally
            {
                _lookups.Release();
            }
            var key = row is null ? null : new VerifiedKey(row);
            entry.ExpiresAt = Environment.TickCount64 + (long)(key is null ? UnknownKeptFor : KeptFor).TotalMilliseconds;
            if (key is null && (Volatile.Read(ref _count) > MaxEntries || IsBootstrapHash(hash)))
            {
                // Full of unknown keys (someone is guessing): do not let them grow the cache. And the admin key is
                // missing only while the gateway starts: it is about to be stored, so its absence is not remembered.
                Remove(id, entry);
            }
            entry.Complete(key);
            return key;
        }
        catch (Exception ex)
        {
            // Never cache a failure: the next request asks again.
            Remove(id, entry);
            logger.LogWarning(ex, "An API key could not be looked up");
            entry.Fail(ex);
            throw new KeyStoreUnavailableException(ex);
        }
    }

    private void Remove(HashKey id, Entry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<HashKey, Entry>(id, entry)))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>Drops expired entries; one sweep at a time, run only when the cache is full.</summary>
    private void Sweep()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }
        try
        {
            var now = Environment.TickCount64;
            foreach (var (id, entry) in _entries)
            {
                if (entry.Lookup.IsCompleted && entry.ExpiresAt <= now)
                {
                    Remove(id, entry);
                }
            }
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    private sealed class Entry
    {
        private readonly TaskCompletionSource<VerifiedKey?> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _expiresAt = long.MaxValue;

        public Task<VerifiedKey?> Lookup => _result.Task;
        public long ExpiresAt
        {
            get => Volatile.Read(ref _expiresAt);
            set => Volatile.Write(ref _expiresAt, value);
        }

        public void Complete(VerifiedKey? key) => _result.TrySetResult(key);
        public void Fail(Exception ex) => _result.TrySetException(new KeyStoreUnavailableException(ex));
    }

    /// <summary>A SHA-256 as four longs: a dictionary key compared without allocating.</summary>
    private readonly record struct HashKey(long A, long B, long C, long D)
    {
        public static HashKey Of(byte[] hash)
        {
            var longs = MemoryMarshal.Cast<byte, long>(hash.AsSpan(0, 32));
            return new HashKey(longs[0], longs[1], longs[2], longs[3]);
        }
    }
}

/// <summary>Postgres could not be asked about a key: the caller gets a 503 to retry, never a 401 for a good key.</summary>
public sealed class KeyStoreUnavailableException(Exception inner) : Exception("API keys cannot be checked right now.", inner);
