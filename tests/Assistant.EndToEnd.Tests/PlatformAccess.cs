using System.Buffers.Binary;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace Assistant.EndToEnd.Tests;

/// <summary>What the jobs, models and alerts tests share: direct database and Redis access, and fixtures built through the API.</summary>
internal static class PlatformAccess
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<PlatformDbContext> OpenDbAsync(this RunningPlatform platform)
    {
        var options = new DbContextOptionsBuilder<PlatformDbContext>()
            .UseNpgsql(await platform.GetConnectionStringAsync("assistantdb"))
            .UseSnakeCaseNamingConvention()
            .Options;
        return new PlatformDbContext(options);
    }

    /// <summary>The platform's S3 bucket through the services' own client code.</summary>
    public static async Task<BucketAccess> OpenArtifactsAsync(this RunningPlatform platform)
    {
        var connection = ObjectStoreConnection.Parse((await platform.GetConnectionStringAsync("s3"))!);
        var s3 = ArtifactStoreExtensions.CreateClient(connection);
        return new BucketAccess(new ArtifactStore(s3, connection), s3);
    }

    public sealed record BucketAccess(ArtifactStore Store, IDisposable Client) : IDisposable
    {
        public void Dispose() => Client.Dispose();
    }

    public static async Task<ConnectionMultiplexer> ConnectRedisAsync(this RunningPlatform platform) =>
        await ConnectionMultiplexer.ConnectAsync((await platform.GetConnectionStringAsync("redis"))!);

    /// <summary>Uploads a chat dataset of <paramref name="examples"/> conversations; returns its name (version 1).</summary>
    public static async Task<string> UploadChatAsync(HttpClient gateway, string prefix = "jobdata", int examples = 20)
    {
        var name = DatasetsApiTests.UniqueName(prefix);
        var lines = Enumerable.Range(0, examples).Select(i => DatasetsApiTests.Chat($"Question {i}?", $"Answer {i}."));
        (await DatasetsApiTests.UploadAsync(gateway, name, "d.jsonl", string.Join("\n", lines))).EnsureSuccessStatusCode();
        return name;
    }

    /// <summary>
    /// Imports a tiny Llama-shaped HF folder (config.json, a hand-built safetensors file of 8 parameters, tokenizer.json)
    /// as base model <paramref name="name"/>; returns the created version's JSON.
    /// </summary>
    public static async Task<JsonElement> ImportTinyModelAsync(HttpClient gateway, string name, string modelType = "llama", bool withTokenizer = true)
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent(name), "name" },
            { new StringContent($$"""{"model_type":"{{modelType}}","hidden_size":2,"vocab_size":4}"""), "file", "config.json" },
            { new ByteArrayContent(Safetensors(("model.embed_tokens.weight", [4, 2]))), "file", "model.safetensors" },
        };
        if (withTokenizer)
        {
            form.Add(new StringContent("""{"version":"1.0","model":{"type":"BPE","vocab":{},"merges":[]}}"""), "file", "tokenizer.json");
        }
        using var response = await gateway.PostAsync("/api/models/import", form, Ct);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        return response.IsSuccessStatusCode ? body : throw new InvalidOperationException($"Import failed: {(int)response.StatusCode} {body}");
    }

    /// <summary>A safetensors file of zero-filled F32 tensors: 8-byte header length, JSON header, data.</summary>
    public static byte[] Safetensors(params (string Name, int[] Shape)[] tensors)
    {
        var header = new Dictionary<string, object>();
        long offset = 0;
        foreach (var (name, shape) in tensors)
        {
            var bytes = 4L * shape.Aggregate(1L, (a, b) => a * b);
            header[name] = new { dtype = "F32", shape, data_offsets = new[] { offset, offset + bytes } };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        var file = new byte[8 + json.Length + offset];
        BinaryPrimitives.WriteInt64LittleEndian(file, json.Length);
        json.CopyTo(file, 8);
        return file;
    }

    /// <summary>Asserts a problem response and returns the field it names.</summary>
    public static async Task<string?> ProblemParamAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
        return problem.TryGetProperty("param", out var param) && param.ValueKind == JsonValueKind.String ? param.GetString() : null;
    }

    /// <summary>Rows that creating, validating or deleting a job touches: a request that is refused must change none.</summary>
    public static async Task<(int Jobs, int Usages, int Events, int Splits, int Groups, int Evaluations)> CountRowsAsync(this RunningPlatform platform)
    {
        await using var db = await platform.OpenDbAsync();
        return (await db.Jobs.CountAsync(Ct), await db.DatasetVersionUsages.CountAsync(Ct), await db.JobEvents.CountAsync(Ct),
            await db.DatasetSplits.CountAsync(Ct), await db.JobGroups.CountAsync(Ct), await db.Evaluations.CountAsync(Ct));
    }

    /// <summary>Pauses dispatch through the API: workers finish what they run and claim nothing new.</summary>
    public static async ValueTask PauseDispatchAsync(this RunningPlatform platform)
    {
        using var gateway = platform.CreateGatewayClient();
        (await gateway.PostAsJsonAsync("/api/queue/pause", new { reason = "API tests hold jobs in place" }, Ct)).EnsureSuccessStatusCode();
    }

    /// <summary>Cancels the queued jobs a test left behind (nothing should run them later), then resumes dispatch.</summary>
    public static async ValueTask ResumeDispatchAsync(this RunningPlatform platform)
    {
        using var gateway = platform.CreateGatewayClient();
        while (true)
        {
            var queued = await gateway.GetFromJsonAsync<JsonElement>("/api/jobs/?status=queued&limit=100", CancellationToken.None);
            var ids = queued.GetProperty("data").EnumerateArray().Select(j => j.GetProperty("id").GetString()!).ToList();
            if (ids.Count == 0) break;
            foreach (var id in ids) (await gateway.PostAsync($"/api/jobs/{id}/cancel", null, CancellationToken.None)).Dispose();
        }
        (await gateway.PostAsync("/api/queue/resume", null, CancellationToken.None)).EnsureSuccessStatusCode();
    }

    /// <summary>How many times the trainers' stream carries <paramref name="id"/>.</summary>
    public static async Task<Dictionary<string, int>> StreamCountsAsync(this RunningPlatform platform)
    {
        await using var redis = await platform.ConnectRedisAsync();
        var entries = await redis.GetDatabase().StreamRangeAsync(Assistant.Platform.Workers.RedisKeys.JobStream);
        return entries.Select(e => (string?)e["id"]).Where(id => id is not null).GroupBy(id => id!).ToDictionary(g => g.Key, g => g.Count());
    }
}
