using Assistant.Inference.Serving;
using Assistant.Modeling;
using static Assistant.Inference.Tests.Http;

namespace Assistant.Inference.Tests;

/// <summary>The batching engine on its own: stops, the non-Llama fallback, the queue and cancellation.</summary>
public class EngineTests
{
    static readonly TextGenerationOptions Greedy = new() { Sampling = SamplingOptions.Greedy(60) };

    static async Task<List<TextPiece>> PiecesAsync(GenerationStream stream)
    {
        var pieces = new List<TextPiece>();
        await foreach (var piece in stream.Pieces.ReadAllAsync(Cancel)) pieces.Add(piece);
        return pieces;
    }

    [Fact]
    public async Task Stop_ids_and_stop_strings_end_a_request_piece_for_piece_as_text_generator_ends_it()
    {
        using var temp = new TempFolder();
        using var model = LoadedModel.Load(TinyModel.Create(temp.Sub("m"), seed: 4));
        using var standalone = new StandaloneHost();
        using var engine = standalone.Engine(model, maxBatch: 4, queueLimit: 4);
        var generator = new TextGenerator(model);
        var free = generator.Stream(generator.PrepareChat([Tokenization.ChatMessage.FromUser("stops")], Greedy), Cancel).ToList();
        var tokens = new TokenGenerator(model.Model).Generate(generator.EncodeChat([Tokenization.ChatMessage.FromUser("stops")]), Greedy.Sampling).TokenIds;
        var text = string.Concat(free.Select(p => p.Text));

        TextGenerationOptions[] cases =
        [
            Greedy with { Sampling = Greedy.Sampling with { StopTokenIds = [tokens[7]] } },
            Greedy with { StopStrings = [text.Substring(9, 2)] },
            Greedy,
        ];
        foreach (var options in cases)
        {
            var plan = generator.PrepareChat([Tokenization.ChatMessage.FromUser("stops")], options);
            var expected = generator.Stream(plan, Cancel).ToList();
            var actual = await PiecesAsync(engine.TrySubmit(plan, Cancel)!);
            Assert.Equal(expected, actual);
        }
        Assert.Equal(FinishReason.Stop, (await PiecesAsync(engine.TrySubmit(generator.PrepareChat([Tokenization.ChatMessage.FromUser("stops")], cases[0]), Cancel)!))[^1].Finish);
    }

    [Fact]
    public async Task Gpt2_falls_back_to_one_by_one_decoding_with_the_same_replies()
    {
        using var temp = new TempFolder();
        using var model = LoadedModel.Load(TinyModel.Create(temp.Sub("gpt2"), seed: 6, architecture: "gpt2"));
        using var standalone = new StandaloneHost();
        using var engine = standalone.Engine(model, maxBatch: 3, queueLimit: 8);
        Assert.False(engine.IsBatched);
        var generator = new TextGenerator(model);
        var prompts = Enumerable.Range(0, 5).Select(i => $"gpt2 prompt {i}").ToArray();
        var expected = prompts.Select(p => generator.Complete(p, Greedy, Cancel)).ToArray();

        var streams = prompts.Select(p => engine.TrySubmit(generator.PrepareCompletion(p, Greedy), Cancel)!).ToArray();
        var replies = await Task.WhenAll(streams.Select(s => s.CollectAsync(Cancel)));

        for (var i = 0; i < prompts.Length; i++) Assert.Equal(expected[i], replies[i]);
    }

    [Fact]
    public async Task The_queue_refuses_beyond_its_limit_a_waiting_request_that_is_cancelled_leaves_at_once_and_prompts_must_fit()
    {
        using var temp = new TempFolder();
        using var model = LoadedModel.Load(TinyModel.Create(temp.Sub("long"), seed: 5, context: 2048, neverEnds: true));
        using var standalone = new StandaloneHost();
        using var engine = standalone.Engine(model, maxBatch: 1, queueLimit: 1);
        var generator = new TextGenerator(model);
        PreparedGeneration Plan(string prompt, int tokens) => generator.PrepareCompletion(prompt, new TextGenerationOptions { Sampling = SamplingOptions.Greedy(tokens) });

        using var holder = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var holding = engine.TrySubmit(Plan("hold", 2000), holder.Token)!;
        await holding.Pieces.WaitToReadAsync(Cancel);
        using var waiter = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        var waiting = engine.TrySubmit(Plan("wait", 4), waiter.Token)!;
        Assert.Equal((1, 1), (engine.Running, engine.Waiting));
        Assert.Null(engine.TrySubmit(Plan("refused", 4), Cancel));

        waiter.Cancel();
        Assert.Equal(0, engine.Waiting);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.CollectAsync(Cancel));
        // A client already gone when it arrives never keeps a place in the queue.
        var gone = engine.TrySubmit(Plan("gone", 4), new CancellationToken(canceled: true))!;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone.CollectAsync(Cancel));
        Assert.Equal(0, engine.Waiting);
        var next = engine.TrySubmit(Plan("next", 4), Cancel);
        Assert.NotNull(next);

        holder.Cancel();
        Assert.Equal(4, (await next.CollectAsync(Cancel)).Usage.CompletionTokens);
        await Wait.UntilAsync(() => engine.Running == 0, "the engine is idle");

        Assert.Throws<ArgumentException>(() => engine.TrySubmit(generator.Prepare([], Greedy), Cancel));
        Assert.Throws<ArgumentException>(() => engine.TrySubmit(generator.Prepare(Enumerable.Repeat(65, 2048).ToArray(), Greedy), Cancel));
        // A reply is capped to the room the context leaves.
        var capped = await engine.TrySubmit(generator.Prepare(Enumerable.Repeat(65, 2046).ToArray(), Greedy), Cancel)!.CollectAsync(Cancel);
        Assert.Equal((2, FinishReason.Length), (capped.Usage.CompletionTokens, capped.FinishReason));
    }
}
