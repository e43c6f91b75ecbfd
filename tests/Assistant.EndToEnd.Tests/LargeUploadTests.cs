using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aspire.Hosting.ApplicationModel;

namespace Assistant.EndToEnd.Tests;

/// <summary>A 1 GB dataset streams through the gateway and the API with bounded memory.</summary>
public sealed class LargeUploadTests(PlatformFixture fixture)
{
    private const long TargetBytes = 1L << 30;
    /// <summary>Peak resident memory either process may add while a 1 GB file passes through it.</summary>
    private const long AllowedGrowthBytes = 400L << 20;

    [Fact]
    public async Task A_one_gigabyte_upload_is_validated_and_stored_with_bounded_memory()
    {
        var ct = TestContext.Current.CancellationToken;
        var file = Path.Combine(Path.GetTempPath(), $"assistant-1gb-{Guid.NewGuid():N}.jsonl");
        try
        {
            var (examples, size) = await WriteChatFileAsync(file, TargetBytes, ct);
            var api = ProcessMemory.Of(ProcessIdOf("training-api"));
            var gateway = ProcessMemory.Of(ProcessIdOf("gateway"));
            var apiBaseline = api.ResidentBytes();
            var gatewayBaseline = gateway.ResidentBytes();
            api.ResetPeak();
            gateway.ResetPeak();

            using var http = fixture.Platform.CreateGatewayClient();
            http.Timeout = TimeSpan.FromMinutes(15);
            await using var stream = File.OpenRead(file);
            using var content = new StreamContent(stream, 1 << 16);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            var name = DatasetsApiTests.UniqueName("onegb");
            using var response = await http.PostAsync($"/api/datasets?name={name}&file_name=big.jsonl", content, ct);

            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            using var version = await response.Content.ReadFromJsonAsync<JsonDocument>(ct);
            Assert.Equal(examples, version!.RootElement.GetProperty("examples").GetInt64());
            Assert.Equal(size, version.RootElement.GetProperty("size_bytes").GetInt64());
            Assert.True(api.PeakBytes() - apiBaseline < AllowedGrowthBytes,
                $"training API peak grew by {(api.PeakBytes() - apiBaseline) >> 20} MiB for a {size >> 20} MiB upload");
            Assert.True(gateway.PeakBytes() - gatewayBaseline < AllowedGrowthBytes,
                $"gateway peak grew by {(gateway.PeakBytes() - gatewayBaseline) >> 20} MiB for a {size >> 20} MiB upload");
        }
        finally
        {
            File.Delete(file);
        }
    }

    private int ProcessIdOf(string resource)
    {
        Assert.True(fixture.Platform.App.ResourceNotifications.TryGetCurrentState(resource, out var state), $"no state for {resource}");
        var pid = state!.Snapshot.Properties.FirstOrDefault(p => p.Name is "executable.pid" or "project.pid")?.Value;
        return Convert.ToInt32(pid, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Writes varied support conversations until the file reaches <paramref name="bytes"/>.</summary>
    private static async Task<(long Examples, long Size)> WriteChatFileAsync(string path, long bytes, CancellationToken ct)
    {
        var topics = new[] { "password reset", "invoice", "refund", "shipping delay", "two-factor login", "data export", "API limits", "billing address" };
        await using var file = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        long examples = 0;
        var random = new Random(1);
        while (file.BaseStream.Length < bytes)
        {
            var topic = topics[random.Next(topics.Length)];
            await file.WriteAsync(DatasetsApiTests.Chat(
                $"Hi, I have a question about {topic} on order {random.Next(1_000_000)}. It has been {random.Next(2, 30)} days.",
                $"Thanks for reaching out about {topic}. Ticket {examples} is open; we will answer within {random.Next(1, 48)} hours.") + "\n");
            examples++;
        }
        await file.FlushAsync(ct);
        return (examples, file.BaseStream.Length);
    }

    /// <summary>Resident memory of another process, from /proc (Linux).</summary>
    private sealed record ProcessMemory(int Pid)
    {
        /// <summary>DCP may start a project through <c>dotnet run</c>: measure the service process under it.</summary>
        public static ProcessMemory Of(int pid)
        {
            while (File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Contains("dotnet run", StringComparison.Ordinal))
            {
                var children = File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries);
                Assert.NotEmpty(children);
                pid = int.Parse(children[0], System.Globalization.CultureInfo.InvariantCulture);
            }
            return new ProcessMemory(pid);
        }

        public long ResidentBytes() => Read("VmRSS");

        public long PeakBytes() => Read("VmHWM");

        /// <summary>Writing 5 to clear_refs resets VmHWM to the current RSS, so the peak is this test's.</summary>
        public void ResetPeak() => File.WriteAllText($"/proc/{Pid}/clear_refs", "5");

        private long Read(string field)
        {
            var line = File.ReadLines($"/proc/{Pid}/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
    }
}
