using System.Security.Cryptography;
using Assistant.Platform.Storage;

namespace Assistant.EndToEnd.Tests;

/// <summary>The S3 store the AppHost started, through the same client code the services use.</summary>
public sealed class ObjectStoreTests(PlatformFixture fixture)
{
    [Fact]
    public async Task A_large_object_round_trips_with_the_same_sha256()
    {
        var ct = TestContext.Current.CancellationToken;
        var connection = ObjectStoreConnection.Parse((await fixture.Platform.GetConnectionStringAsync("s3"))!);
        using var s3 = ArtifactStoreExtensions.CreateClient(connection);
        var store = new ArtifactStore(s3, connection);
        await store.EnsureBucketAsync(ct);

        const long size = 50L * 1024 * 1024 + 12_345; // 50 MiB and a ragged tail, so the last multipart part is short
        var file = Path.GetTempFileName();
        try
        {
            var expected = await WriteRandomFileAsync(file, size, seed: 20261129, ct);
            var key = $"tests/roundtrip-{Guid.NewGuid():N}.bin";

            await using (var upload = File.OpenRead(file))
            {
                await store.PutAsync(key, upload, ct: ct);
            }

            Assert.Equal(size, await store.GetSizeAsync(key, ct));
            await using (var download = await store.OpenReadAsync(key, ct))
            {
                Assert.Equal(expected, await SHA256.HashDataAsync(download, ct));
            }
            await store.DeleteAsync(key, ct);
            Assert.Null(await store.GetSizeAsync(key, ct));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static async Task<byte[]> WriteRandomFileAsync(string path, long size, int seed, CancellationToken ct)
    {
        var random = new Random(seed);
        var buffer = new byte[1 << 20];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = File.Create(path);
        for (long written = 0; written < size; written += buffer.Length)
        {
            var chunk = (int)Math.Min(buffer.Length, size - written);
            random.NextBytes(buffer.AsSpan(0, chunk));
            hash.AppendData(buffer, 0, chunk);
            await file.WriteAsync(buffer.AsMemory(0, chunk), ct);
        }
        return hash.GetHashAndReset();
    }
}
