using System.Text;
using Assistant.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Assistant.Modeling.Training;

/// <summary>Loss, accuracy and generated answers of a model on a data split.</summary>
public static class Evaluator
{
    /// <summary>Mean next-token loss and accuracy over the tokens that carry loss, one dispose scope per batch.</summary>
    public static (double Loss, double Accuracy, long Tokens) Loss(CausalLM model, BatchSchedule batches, CancellationToken ct = default)
    {
        var wasTraining = model.training;
        model.eval();
        var device = model.parameters().First().device;
        double lossSum = 0;
        long correct = 0, tokens = 0;
        try
        {
            using var _ = no_grad();
            for (var i = 0; i < batches.BatchesPerEpoch; i++)
            {
                ct.ThrowIfCancellationRequested();
                var batch = batches.Get(i);
                if (batch.LossTokens == 0) continue;
                using var scope = NewDisposeScope();
                var (sum, right) = LossSum(model, batch, device);
                lossSum += sum.item<float>();
                correct += right;
                tokens += batch.LossTokens;
            }
        }
        finally
        {
            if (wasTraining) model.train();
        }
        return tokens == 0 ? (double.NaN, double.NaN, 0) : (lossSum / tokens, (double)correct / tokens, tokens);
    }

    /// <summary>Summed cross-entropy of the batch (a graph for backward) and how many argmax predictions hit.</summary>
    public static (Tensor LossSum, long Correct) LossSum(CausalLM model, Batch batch, Device device)
    {
        var (ids, targets, positions, mask) = batch.ToTensors(device);
        var logits = model.forward(ids, positions, null, mask);
        var flat = logits.view(-1, logits.shape[^1]);
        var target = targets.view(-1);
        var loss = nn.functional.cross_entropy(flat, target, ignore_index: Batch.IgnoreIndex, reduction: nn.Reduction.Sum);
        long correct;
        using (no_grad()) correct = flat.argmax(-1).eq(target).sum().item<long>(); // -100 never equals an argmax
        return (loss, correct);
    }

    /// <summary>
    /// Greedy answers to the examples' prompts (conversation up to its last assistant turn; for plain text,
    /// its first tokens) next to the references, generated in batches with the template's stop tokens.
    /// </summary>
    public static IReadOnlyList<GenerationSample> Generate(CausalLM model, SequenceEncoder encoder, IReadOnlyList<TrainingExample> examples, int maxNewTokens, CancellationToken ct = default)
    {
        var tokenizer = encoder.Tokenizer;
        var items = new List<(int[] Prompt, string Shown, string Reference)>();
        foreach (var example in examples)
        {
            if (example.PromptAndReference() is var (prompt, reference))
            {
                var shown = prompt.LastOrDefault(m => m.Role == ChatMessage.User)?.Content ?? "";
                items.Add((encoder.EncodePrompt(prompt), shown, reference));
            }
            else if (example.Text is not null)
            {
                var ids = tokenizer.Encode(example.Text, addBos: tokenizer.AddBos).ToArray();
                var cut = Math.Clamp(ids.Length / 2, 1, 32);
                var head = ids[..cut];
                items.Add((head, tokenizer.Decode(head, skipSpecialTokens: true), tokenizer.Decode(ids[cut..Math.Min(ids.Length, cut + maxNewTokens)], skipSpecialTokens: true)));
            }
        }
        var room = model.Config.MaxPositions - maxNewTokens;
        if (room < 1) maxNewTokens = Math.Max(1, model.Config.MaxPositions / 2);
        room = model.Config.MaxPositions - maxNewTokens;
        var stopIds = encoder.Template.StopTokenIds(tokenizer).Concat(model.Config.EosTokenIds).Distinct().ToArray();
        var options = SamplingOptions.Greedy(maxNewTokens) with { StopTokenIds = stopIds };
        var generator = new TokenGenerator(model);
        var samples = new List<GenerationSample>();
        const int chunk = 16;
        for (var start = 0; start < items.Count; start += chunk)
        {
            ct.ThrowIfCancellationRequested();
            var part = items.Skip(start).Take(chunk).ToList();
            var prompts = part.Select(p => (IReadOnlyList<int>)(p.Prompt.Length > room ? p.Prompt[^room..] : p.Prompt)).ToList();
            var results = generator.GenerateBatch(prompts, options);
            for (var i = 0; i < part.Count; i++)
                samples.Add(new GenerationSample(part[i].Shown, part[i].Reference, CutAtStop(tokenizer.Decode(results[i].TokenIds, skipSpecialTokens: true), encoder.Template)));
        }
        return samples;
    }

    /// <summary>Stop strings that are not single tokens (the seed format's next header) end the answer too.</summary>
    static string CutAtStop(string text, ChatTemplate template)
    {
        foreach (var stop in template.StopStrings)
        {
            var at = stop.Length > 0 ? text.IndexOf(stop, StringComparison.Ordinal) : -1;
            if (at >= 0) text = text[..at];
        }
        return text.Trim();
    }
}

/// <summary>Task scores of generated answers against references.</summary>
public static class TextScores
{
    /// <summary>1 when the texts are equal ignoring case, surrounding and repeated whitespace.</summary>
    public static double ExactMatch(string generated, string reference) =>
        string.Equals(Normalize(generated), Normalize(reference), StringComparison.OrdinalIgnoreCase) ? 1 : 0;

    /// <summary>ROUGE-L F1: longest common subsequence of lower-cased alphanumeric words (as Google's rouge_score tokenizes).</summary>
    public static double RougeL(string generated, string reference)
    {
        var a = Words(generated);
        var b = Words(reference);
        if (a.Length == 0 || b.Length == 0) return a.Length == b.Length ? 1 : 0;
        var lcs = Lcs(a, b);
        if (lcs == 0) return 0;
        var precision = (double)lcs / a.Length;
        var recall = (double)lcs / b.Length;
        return 2 * precision * recall / (precision + recall);
    }

    static string Normalize(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    static string[] Words(string text)
    {
        var cleaned = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant()) cleaned.Append(char.IsLetterOrDigit(c) ? c : ' ');
        return cleaned.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }

    static int Lcs(string[] a, string[] b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        foreach (var word in a)
        {
            for (var j = 1; j <= b.Length; j++)
                current[j] = word == b[j - 1] ? previous[j - 1] + 1 : Math.Max(previous[j], current[j - 1]);
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
