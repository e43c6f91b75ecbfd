using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Inference.Tests;

/// <summary>
/// One tiny Llama served by the real app (8 slots, queue 64), shared by a test class, and the same folder loaded on its own
/// for expected values through <see cref="TextGenerator"/>.
/// </summary>
public sealed class TinyServer : IAsyncLifetime
{
    readonly TempFolder temp = new();
    internal InferenceServer Server { get; private set; } = null!;
    internal LoadedModel Reference { get; private set; } = null!;
    internal string Folder => temp.Sub("tiny");
    public HttpClient Client => Server.Client;

    public async ValueTask InitializeAsync()
    {
        TinyModel.Create(Folder, seed: 3);
        Reference = LoadedModel.Load(Folder);
        Server = await InferenceServer.StartAsync(Folder, "tiny");
    }

    /// <summary>What TextGenerator gives for a raw prompt, greedily.</summary>
    public TextCompletion Complete(string prompt, int maxTokens, params string[] stop) =>
        new TextGenerator(Reference).Complete(prompt, Greedy(maxTokens, stop));

    /// <summary>What TextGenerator gives for a user message through the chat template, greedily.</summary>
    public TextCompletion Chat(string user, int maxTokens, params string[] stop) =>
        new TextGenerator(Reference).Chat([ChatMessage.FromUser(user)], Greedy(maxTokens, stop));

    static TextGenerationOptions Greedy(int maxTokens, string[] stop) => new() { Sampling = SamplingOptions.Greedy(maxTokens), StopStrings = stop };

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Reference.Dispose();
        temp.Dispose();
    }
}
