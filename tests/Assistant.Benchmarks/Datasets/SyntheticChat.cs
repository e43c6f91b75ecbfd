using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Assistant.Tokenization;

namespace Assistant.Benchmarks.Datasets;

/// <summary>
/// Writes a chat JSONL file that tokenizes like real text: words drawn with Zipf's law from GPT-2's own word tokens
/// (rank order is roughly frequency order), one word in ten from a pool of 100,000 rarer words of several tokens (two
/// GPT-2 words glued), numbers, punctuation, paragraphs, some Russian, and now and then a phone number or e-mail
/// address. The pool keeps the vocabulary growing as in real text (Heaps' law) rather than without bound.
/// </summary>
internal sealed class SyntheticChat
{
    private static readonly string[] Russian = ["привет", "спасибо", "модель", "ответ", "вопрос", "данные", "обучение", "пожалуйста", "сегодня", "хорошо", "почему", "система"];
    private readonly Random random;
    private readonly string[] words;
    private readonly string[] rareWords;

    public SyntheticChat(int seed)
    {
        random = new Random(seed);
        var tokenizer = Gpt2Tokenizer.Instance;
        words = Enumerable.Range(0, Gpt2Tokenizer.EndOfTextId)
            .Select(id => Encoding.UTF8.GetString(tokenizer.TokenBytes(id).Span))
            .Where(t => t.Length >= 3 && t[0] == ' ' && t.Skip(1).All(char.IsAsciiLetterLower))
            .Select(t => t[1..])
            .ToArray();
        rareWords = Enumerable.Range(0, 100_000).Select(_ => Zipf(words) + Zipf(words)).ToArray();
    }

    /// <summary>Writes records until at least <paramref name="bytes"/> bytes; returns the records written.</summary>
    public long Write(string path, long bytes)
    {
        var options = new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using var json = new Utf8JsonWriter(file, options);
        long records = 0;
        while (file.Position + json.BytesPending < bytes)
        {
            json.WriteStartObject();
            json.WriteStartArray("messages");
            if (random.Next(3) == 0)
            {
                Message(json, "system", "You are a helpful assistant. " + Paragraph(8, 30));
            }

            var turns = 1 + random.Next(3);
            for (var t = 0; t < turns; t++)
            {
                Message(json, "user", Paragraph(8, 60));
                Message(json, "assistant", string.Join("\n\n", Enumerable.Range(0, 1 + random.Next(4)).Select(_ => Paragraph(20, 120))));
            }

            json.WriteEndArray();
            json.WriteEndObject();
            json.Flush();
            file.WriteByte((byte)'\n');
            json.Reset(file);
            records++;
        }

        return records;
    }

    private static void Message(Utf8JsonWriter json, string role, string content)
    {
        json.WriteStartObject();
        json.WriteString("role", role);
        json.WriteString("content", content);
        json.WriteEndObject();
    }

    private string Paragraph(int minWords, int maxWords)
    {
        var text = new StringBuilder();
        var count = random.Next(minWords, maxWords);
        var capital = true;
        for (var w = 0; w < count; w++)
        {
            if (w > 0)
            {
                text.Append(' ');
            }

            var word = Word();
            text.Append(capital ? char.ToUpperInvariant(word[0]) + word[1..] : word);
            capital = false;
            var roll = random.Next(100);
            if (roll < 6) { text.Append(','); }
            else if (roll < 12) { text.Append('.'); capital = true; }
            else if (roll < 13) { text.Append('?'); capital = true; }
        }

        if (random.Next(40) == 0)
        {
            text.Append($" Call me at +1 ({random.Next(200, 999)}) {random.Next(200, 999)}-{random.Next(1000, 9999)} or write to user{random.Next(1000)}@example.com.");
        }

        return text.Append('.').ToString();
    }

    private string Word()
    {
        var roll = random.Next(100);
        if (roll < 3)
        {
            return ((int)Math.Exp(random.NextDouble() * Math.Log(100_000))).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (roll < 5)
        {
            return Russian[random.Next(Russian.Length)];
        }

        return Zipf(roll < 15 ? rareWords : words);
    }

    // Rank r with probability proportional to 1/r: log-uniform over the ranks.
    private string Zipf(string[] pool) => pool[(int)Math.Exp(random.NextDouble() * Math.Log(pool.Length)) - 1];
}
