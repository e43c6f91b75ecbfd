using System.Text;
using System.Text.RegularExpressions;
using Assistant.Tokenization;

namespace Assistant.Datasets.Tests;

/// <summary>The fast GPT-2 count (hand-written pre-tokenizer, own BPE, shared cache) against the tokenizer itself.</summary>
public sealed class TokenCountingTests
{
    // GPT-2's pre-tokenizer as Assistant.Tokenization compiles it (PreTokenizerPatterns.Gpt2).
    private static readonly Regex Gpt2Split = new(@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
        RegexOptions.Compiled | RegexOptions.CultureInvariant);

    // Every character class the regex tells apart, and the tricky ones: contractions, several kinds of space, marks,
    // surrogate pairs (and lone halves), digits of other scripts, CJK, Cyrillic, control characters.
    private static readonly string[] Atoms =
    [
        "a", "Z", "é", "ß", "Ж", "я", "中", "ـ", "ǅ", "ʰ", "1", "9", "٣", "Ⅻ", "½", "²", " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003",
        "\u2028", "\u0085", "\v", "'", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'x", "!", "?!", ".", ",", "-", "—", "\"", "(", ")",
        "#", "$", "@", "_", "\u0301", "\u200d", "😀", "👍🏽", "\ud83d", "\ude00", "\u0000", "\u001f", "<|endoftext|>", "hello", " world",
        "don't", "we're", "Привет", " мир", "1234567", "3.14", "http://x.y/z?q=1", "    ", "\n\n\n", " \n ", "  a", "\t\tb", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ];

    [Fact]
    public void The_hand_written_pre_tokenizer_splits_exactly_like_the_gpt2_regex()
    {
        var random = new Random(7);
        for (var sample = 0; sample < 3000; sample++)
        {
            var text = RandomText(random, random.Next(1, 30));
            var expected = Gpt2Split.Matches(text).Select(m => m.Value).ToList();
            var actual = new List<string>();
            for (var rest = text.AsSpan(); !rest.IsEmpty;)
            {
                var length = Gpt2PreTokenizer.NextPiece(rest);
                actual.Add(rest[..length].ToString());
                rest = rest[length..];
            }

            Assert.True(expected.SequenceEqual(actual), $"{Escape(text)}: regex [{string.Join("|", expected.Select(Escape))}] vs [{string.Join("|", actual.Select(Escape))}]");
        }
    }

    [Fact]
    public void Fast_gpt2_counts_equal_the_tokenizer_on_random_and_real_text()
    {
        var random = new Random(11);
        var counter = TokenCounter.Create(null);
        var texts = Enumerable.Range(0, 3000).Select(_ => RandomText(random, random.Next(1, 40))).ToList();
        texts.AddRange(File.ReadLines(Path.Combine(AppContext.BaseDirectory, "Corpus", "good", "chat.jsonl")));
        texts.Add(new string('x', 5000));
        texts.Add(string.Concat(Enumerable.Repeat("🙂 ", 200)));
        foreach (var text in texts)
        {
            Assert.True(Gpt2Tokenizer.Instance.Encode(text).Count == counter.Count(text), Escape(text));
        }

        // Twice: the second pass is answered from the shared cache.
        Assert.Equal(texts.Sum(t => (long)Gpt2Tokenizer.Instance.Encode(t).Count), texts.Sum(t => counter.Count(t)));
    }

    [Fact]
    public void Own_bpe_counts_equal_the_tokenizer_on_words_it_has_never_seen()
    {
        var random = new Random(3);
        const string letters = "abcdefghijklmnopqrstuvwxyzéßжщ0123456789";
        for (var sample = 0; sample < 5000; sample++)
        {
            var word = (random.Next(2) == 0 ? " " : "") + new string(Enumerable.Range(0, random.Next(1, 40)).Select(_ => letters[random.Next(letters.Length)]).ToArray());
            Assert.True(Gpt2Tokenizer.Instance.Encode(word).Count == Gpt2Bpe.Count(word), word);
        }
    }

    [Fact]
    public void The_shared_piece_cache_gives_right_counts_under_concurrent_filling()
    {
        var random = new Random(5);
        const string letters = "abcdefghijklmnopqrstuvwxyzжщ";
        var pieces = Enumerable.Range(0, 4000)
            .Select(_ => " " + new string(Enumerable.Range(0, random.Next(1, 12)).Select(_ => letters[random.Next(letters.Length)]).ToArray()))
            .ToArray();
        var expected = pieces.Select(p => Gpt2Tokenizer.Instance.Encode(p).Count).ToArray();
        var cache = new Gpt2PieceCache();
        var wrong = 0;

        // Eight threads fill one fresh cache with the same pieces in different orders, then read them back.
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, t =>
        {
            for (var pass = 0; pass < 2; pass++)
            {
                for (var k = 0; k < pieces.Length; k++)
                {
                    var i = (k * (2 * t + 1) + t * 997) % pieces.Length;
                    if (cache.GetOrAdd(pieces[i]) != expected[i])
                    {
                        Interlocked.Increment(ref wrong);
                    }
                }
            }
        });

        Assert.Equal(0, wrong);
    }

    [Fact]
    public async Task Another_tokenizer_is_counted_with_its_own_encode()
    {
        var report = await DatasetValidator.ValidateAsync(CorpusTests.Stream("""{"text": "héllo"}"""),
            new ValidationOptions { Tokenizer = ByteTokenizer.Instance }, TestContext.Current.CancellationToken);

        Assert.Equal(6, report.Statistics!.Tokens); // UTF-8 bytes
    }

    [Fact]
    public async Task With_a_template_a_conversation_counts_its_whole_training_sequence()
    {
        var conversation = new[] { ChatMessage.FromUser("What is 2+2?"), ChatMessage.FromAssistant("4") };
        var template = ChatTemplate.ChatML;
        var line = DatasetExample.Chat(conversation).ToJsonLine();

        var plain = await DatasetValidator.ValidateAsync(CorpusTests.Stream(line), new ValidationOptions(), TestContext.Current.CancellationToken);
        var templated = await DatasetValidator.ValidateAsync(CorpusTests.Stream(line),
            new ValidationOptions { Template = template, Tokenizer = ByteTokenizer.Instance }, TestContext.Current.CancellationToken);

        Assert.Equal(Gpt2Tokenizer.Instance.Encode("What is 2+2?").Count + 1, plain.Statistics!.Tokens);
        Assert.Equal(template.Encode(conversation, ByteTokenizer.Instance).Ids.Count, templated.Statistics!.Tokens);
        Assert.True(templated.Statistics.Tokens > Encoding.UTF8.GetByteCount("What is 2+2?4"));
    }

    private static string RandomText(Random random, int atoms) =>
        string.Concat(Enumerable.Range(0, atoms).Select(_ => Atoms[random.Next(Atoms.Length)]));

    private static string Escape(string s) => string.Concat(s.Select(c => c is >= ' ' and < '\u007f' ? c.ToString() : $"\\u{(int)c:x4}"));
}
