using System.Collections.Concurrent;
using System.Net;
using Assistant.Inference.Serving;
using Assistant.Modeling;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>Loading a new version next to the current one and swapping it in, while requests run.</summary>
public class SwapTests
{
    [Fact]
    public async Task A_request_running_on_the_old_version_finishes_on_it_and_the_old_version_unloads_when_it_leaves()
    {
        using var temp = new TempFolder();
        var (v1Folder, v2Folder) = (TinyModel.Create(temp.Sub("v1"), seed: 1, context: 1024, neverEnds: true), TinyModel.Create(temp.Sub("v2"), seed: 2, context: 1024, neverEnds: true));
        using var standalone = new StandaloneHost(new InferenceOptions { MaxBatch = 2 });
        var host = standalone.Host;
        Assert.True(await host.LoadAsync(StandaloneHost.Version("m", 1), v1Folder, Cancel));
        var v1 = host.Find("m")!;
        var options = new TextGenerationOptions { Sampling = SamplingOptions.Greedy(600) };
        string expected;
        using (var reference = LoadedModel.Load(v1Folder)) expected = new TextGenerator(reference).Complete("old", options, Cancel).Text;

        var lease = host.TryLease("m", out _)!;
        var plan = new TextGenerator(lease.Model.Model).PrepareCompletion("old", options);
        var stream = lease.Model.Engine.TrySubmit(plan, Cancel)!;
        var first = await stream.Pieces.ReadAsync(Cancel); // admitted and decoding on version 1

        Assert.True(await host.LoadAsync(StandaloneHost.Version("m", 2), v2Folder, Cancel));
        Assert.Equal(2, host.Find("m")!.Info.Version);
        using (var next = host.TryLease("m:production", out _)!) Assert.Equal(2, next.Model.Info.Version);
        Assert.Null(host.TryLease("m@1", out var refusal));
        Assert.Equal(LeaseRefusal.UnknownModel, refusal);

        var rest = await stream.CollectAsync(Cancel);
        Assert.Equal(expected, first.Text + rest.Text);
        await Task.Delay(50, Cancel);
        Assert.False(v1.Unloaded.IsCompleted, "version 1 must stay loaded while a request holds it");
        lease.Dispose();
        await v1.Unloaded.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.Throws<ObjectDisposedException>(() => v1.Engine.TrySubmit(plan, Cancel));
    }

    [Fact]
    public async Task Swapping_versions_under_steady_traffic_fails_no_request_and_every_reply_matches_its_version()
    {
        using var temp = new TempFolder();
        var folders = Enumerable.Range(1, 3).Select(v => TinyModel.Create(temp.Sub($"v{v}"), seed: v)).ToArray();
        var prompts = Enumerable.Range(0, 4).Select(i => $"traffic {i}").ToArray();
        var expected = folders.Select(folder =>
        {
            using var reference = LoadedModel.Load(folder);
            return prompts.Select(p => new TextGenerator(reference).Complete(p, new TextGenerationOptions { Sampling = SamplingOptions.Greedy(40) }, Cancel).Text).ToArray();
        }).ToArray();
        await using var server = await InferenceServer.StartAsync(folders[0], "swap");
        var old = new List<ServedModel> { server.Host.Find("swap")! };

        var failures = new ConcurrentQueue<string>();
        var served = new ConcurrentDictionary<string, int>();
        using var stop = new CancellationTokenSource();
        var traffic = Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var prompt = (worker + i) % prompts.Length;
                var (response, body) = await PostAsync(server.Client, "/v1/completions", new { model = "swap", prompt = prompts[prompt], max_tokens = 40, temperature = 0 });
                if (response.StatusCode != HttpStatusCode.OK) { failures.Enqueue(body.GetRawText()); continue; }
                var version = response.Headers.GetValues("X-Model-Version").Single();
                served.AddOrUpdate(version, 1, (_, n) => n + 1);
                var text = body.GetProperty("choices")[0].GetProperty("text").GetString();
                if (text != expected[int.Parse(version["swap@".Length..]) - 1][prompt]) failures.Enqueue($"{version} answered '{prompts[prompt]}' with another model's text");
            }
        }, Cancel)).ToArray();
        var health = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var response = await server.Client.GetAsync("/health", Cancel);
                if (response.StatusCode != HttpStatusCode.OK) failures.Enqueue("/health was not ready during a swap");
                await Task.Delay(20, Cancel);
            }
        }, Cancel);

        await Wait.UntilAsync(() => served.Values.Sum() >= 10, "version 1 answers");
        for (var version = 2; version <= 3; version++)
        {
            Assert.True(await server.Host.LoadAsync(StandaloneHost.Version("swap", version, alias: null), folders[version - 1], Cancel));
            old.Add(server.Host.Find("swap")!);
            var seen = served.GetValueOrDefault($"swap@{version}");
            await Wait.UntilAsync(() => served.GetValueOrDefault($"swap@{version}") >= seen + 10, $"version {version} answers");
        }
        stop.Cancel();
        await Task.WhenAll([.. traffic, health]);

        Assert.Empty(failures);
        Assert.Equal(["swap@1", "swap@2", "swap@3"], served.Keys.Order());
        await old[0].Unloaded.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        await old[1].Unloaded.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
        Assert.False(old[2].Unloaded.IsCompleted);
    }
}
