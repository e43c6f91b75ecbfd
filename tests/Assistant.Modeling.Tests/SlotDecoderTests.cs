using static TorchSharp.torch;

namespace Assistant.Modeling.Tests;

/// <summary>
/// Continuous batching: sequences that join and leave a <see cref="SlotDecoder"/> between steps get the tokens they get
/// decoded alone by <see cref="TokenGenerator"/> (the existing, tested path).
/// </summary>
public class SlotDecoderTests
{
    const float Tolerance = 1e-4f;
    static readonly int[] NoStop = [];

    static int[] Prompt(int length, int salt) =>
        [StarterVocabulary.Bos, .. Enumerable.Range(0, length - 1).Select(i => (i * 37 + salt * 101) % 256)];

    [Fact]
    public void A_sequence_prefilled_beside_others_gets_the_logits_it_gets_alone_and_a_reset_slot_forgets()
    {
        using var model = ModelPresets.Build("llama", "tiny", 11);
        using var shared = LlamaDecoder.TryCreate(model, 64, 3)!;
        using var scope = NewDisposeScope();
        shared.PrefillSequence(0, Prompt(13, 1));
        shared.PrefillSequence(2, Prompt(5, 2));
        shared.StepBatch([7, 0, 9], [false, true, false]);

        var prompt = Prompt(11, 3);
        using var alone = LlamaDecoder.TryCreate(model, 64)!;
        var expected = alone.Prefill(prompt);
        var joined = shared.PrefillSequence(1, prompt);
        TensorAssert.BitEqual(expected, joined, "prefill into slot 1");
        Assert.Equal(new[] { 14, 11, 6 }, new[] { shared.LengthOf(0), shared.LengthOf(1), shared.LengthOf(2) });

        // Slot 0 held 14 tokens; started over, it computes exactly what a fresh sequence does.
        var again = shared.PrefillSequence(0, prompt);
        TensorAssert.BitEqual(expected, again, "prefill into a used slot");
        var step = alone.Step(42);
        var batched = shared.StepBatch([42, 42, 3]);
        Assert.True(TensorAssert.MaxAbsDiff(step, batched[0]) < Tolerance);
        Assert.True(TensorAssert.MaxAbsDiff(step, batched[1]) < Tolerance);
        Assert.Throws<ArgumentOutOfRangeException>(() => shared.Reset(3));
    }

    public static TheoryData<string> Architectures => ["llama", "gpt2"];

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Requests_joining_and_leaving_three_slots_get_the_tokens_each_gets_alone(string architecture)
    {
        using var model = ModelPresets.Build(architecture, "tiny", 11);
        // Greedy and seeded requests of different lengths: slots free up at different steps and are refilled at once.
        var requests = Enumerable.Range(0, 7).Select(i => (
            Prompt: Prompt(3 + i * 5 % 17, i),
            Options: (i % 2 == 0 ? SamplingOptions.Greedy(6 + i * 3) : new SamplingOptions { MaxNewTokens = 6 + i * 3, Temperature = 0.9, TopP = 0.95, Seed = i }) with { StopTokenIds = NoStop }))
            .ToArray();
        var expected = requests.Select(r => new TokenGenerator(model).Generate(r.Prompt, r.Options).TokenIds).ToArray();

        using var decoder = SlotDecoder.Create(model, 3, 64);
        Assert.Equal(architecture == "llama", decoder.IsBatched);
        var actual = requests.Select(_ => new List<int>()).ToArray();
        var samplers = new TokenSampler?[requests.Length];
        var inSlot = new int?[decoder.Slots];
        var next = 0;
        var tokens = new long[decoder.Slots];
        var active = new bool[decoder.Slots];
        void Take(int request, long token)
        {
            actual[request].Add((int)token);
            if (actual[request].Count == requests[request].Options.MaxNewTokens)
            {
                inSlot[Array.IndexOf(inSlot, request)] = null;
                samplers[request]!.Dispose();
            }
        }
        while (next < requests.Length || inSlot.Any(s => s is not null))
        {
            for (var slot = 0; slot < decoder.Slots && next < requests.Length; slot++)
            {
                if (inSlot[slot] is not null) continue;
                var request = next++;
                inSlot[slot] = request;
                samplers[request] = new TokenSampler(requests[request].Options, [requests[request].Prompt], model.Config.VocabSize, CPU);
                using var logits = decoder.Prefill(slot, requests[request].Prompt);
                Take(request, tokens[slot] = samplers[request]!.Pick(logits)[0]);
            }
            for (var slot = 0; slot < decoder.Slots; slot++) active[slot] = inSlot[slot] is not null;
            if (!active.Any(a => a)) continue;
            using var step = decoder.Step(tokens, active);
            for (var slot = 0; slot < decoder.Slots; slot++)
            {
                if (inSlot[slot] is not int request) continue;
                using var row = step.narrow(0, slot, 1); // a row inside the batch: the sampler reads it in place
                Take(request, tokens[slot] = samplers[request]!.Pick(row)[0]);
            }
        }
        for (var i = 0; i < requests.Length; i++) Assert.Equal(expected[i], actual[i]);
    }
}
