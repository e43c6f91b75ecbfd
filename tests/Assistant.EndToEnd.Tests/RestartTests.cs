using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Storage;
using Npgsql;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>A second start of the AppHost on the same data keeps everything the first one wrote.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task A_restarted_platform_keeps_database_rows_redis_keys_and_objects()
    {
        var ct = TestContext.Current.CancellationToken;
        using var data = new ScratchDirectory();
        var secrets = PlatformSecrets.CreateRandom();
        var marker = $"restart-{Guid.NewGuid():N}";
        var payload = Encoding.UTF8.GetBytes($"kept across restarts: {marker}");

        string[] firstWorkers;
        string[] firstMigrations;
        await using (var first = await RunningPlatform.StartAsync(data.Path, secrets))
        {
            firstWorkers = await AliveWorkersAsync(first, ct);
            firstMigrations = await AppliedMigrationsAsync(first, ct);
            Assert.NotEmpty(firstMigrations);

            var redis = await ConnectionMultiplexer.ConnectAsync((await first.GetConnectionStringAsync("redis"))!);
            await redis.GetDatabase().StringSetAsync(marker, payload);
            await redis.DisposeAsync();

            var store = await ObjectStoreAsync(first);
            await store.PutAsync($"tests/{marker}", new MemoryStream(payload), ct: ct);
        }

        await using var second = await RunningPlatform.StartAsync(data.Path, secrets);

        // Migrations applied once: the history is the same, nothing re-ran or went missing.
        Assert.Equal(firstMigrations, await AppliedMigrationsAsync(second, ct));
        // The first run's worker rows are still in Postgres next to the new workers.
        await using (var db = await OpenDatabaseAsync(second, ct))
        {
            await using var query = new NpgsqlCommand("SELECT count(*) FROM workers WHERE id = ANY(@ids)", db);
            query.Parameters.AddWithValue("ids", firstWorkers);
            Assert.Equal((long)firstWorkers.Length, await query.ExecuteScalarAsync(ct));
        }
        await using (var redis = await ConnectionMultiplexer.ConnectAsync((await second.GetConnectionStringAsync("redis"))!))
        {
            Assert.Equal(payload, (byte[]?)await redis.GetDatabase().StringGetAsync(marker));
        }
        var reopened = await ObjectStoreAsync(second);
        await using (var stored = await reopened.OpenReadAsync($"tests/{marker}", ct))
        {
            Assert.Equal(SHA256.HashData(payload), await SHA256.HashDataAsync(stored, ct));
        }
        using var gateway = second.CreateGatewayClient();
        using var health = await gateway.GetFromJsonAsync<JsonDocument>("/api/health", ct);
        Assert.Equal("ok", health!.RootElement.GetProperty("status").GetString());
    }

    /// <summary>
    /// The ids of the alive workers, once every trainer replica is up: the platform reports healthy as soon as
    /// one replica is, so the others may still be registering.
    /// </summary>
    private static async Task<string[]> AliveWorkersAsync(RunningPlatform platform, CancellationToken ct)
    {
        using var gateway = platform.CreateGatewayClient();
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            using var health = await gateway.GetFromJsonAsync<JsonDocument>("/api/health", ct);
            var alive = health!.RootElement.GetProperty("workers").EnumerateArray()
                .Where(w => w.GetProperty("alive").GetBoolean()).Select(w => w.GetProperty("id").GetString()!).ToArray();
            if (alive.Length == RunningPlatform.TrainerReplicas || DateTimeOffset.UtcNow > deadline)
            {
                Assert.Equal(RunningPlatform.TrainerReplicas, alive.Length);
                return alive;
            }
            await Task.Delay(500, ct);
        }
    }

    private static async Task<string[]> AppliedMigrationsAsync(RunningPlatform platform, CancellationToken ct)
    {
        await using var db = await OpenDatabaseAsync(platform, ct);
        await using var query = new NpgsqlCommand("SELECT migration_id FROM \"__EFMigrationsHistory\" ORDER BY 1", db);
        await using var reader = await query.ExecuteReaderAsync(ct);
        var ids = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            ids.Add(reader.GetString(0));
        }
        return [.. ids];
    }

    private static async Task<NpgsqlConnection> OpenDatabaseAsync(RunningPlatform platform, CancellationToken ct)
    {
        var connection = new NpgsqlConnection(await platform.GetConnectionStringAsync("assistantdb"));
        await connection.OpenAsync(ct);
        return connection;
    }

    private static async Task<ArtifactStore> ObjectStoreAsync(RunningPlatform platform)
    {
        var connection = ObjectStoreConnection.Parse((await platform.GetConnectionStringAsync("s3"))!);
        var store = new ArtifactStore(ArtifactStoreExtensions.CreateClient(connection), connection);
        await store.EnsureBucketAsync();
        return store;
    }
}
