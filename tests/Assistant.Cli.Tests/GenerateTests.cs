using Assistant.Modeling;
using Assistant.Tokenization;

namespace Assistant.Cli.Tests;

public class GenerateTests(StarterModels models)
{
    const string Prompt = "Once upon a time";

    static IReadOnlyList<int> Ids(string text) => ByteTokenizer.Instance.Encode(text);

    [Theory]
    [InlineData("llama")]
    [InlineData("gpt2")]
    public void Temperature_zero_is_deterministic_and_equals_greedy_token_generation(string arch)
    {
        string[] args = ["generate", "--model", models.Folder(arch), "--prompt", Prompt, "--temperature", "0", "--max-tokens", "24"];
        var first = Cli.Ok(args);
        Assert.Equal(first.Stdout, Cli.Ok(args).Stdout);
        var expected = Expect.Generated(models.Folder(arch), Ids(Prompt), SamplingOptions.Greedy(24));
        Assert.NotEmpty(expected);
        Assert.Equal(expected + "\n", first.Stdout);
        Assert.Contains($"prompt {Prompt.Length} tokens", first.Stderr);
    }

    [Fact]
    public void Seeded_sampling_repeats_for_the_same_seed_and_matches_the_token_generator()
    {
        var folder = models.Folder("llama");
        string[] Args(int seed) => ["generate", "--model", folder, "--prompt", Prompt, "--temperature", "0.9", "--top-k", "40", "--top-p", "0.95", "--seed", seed.ToString(), "--max-tokens", "32"];
        var first = Cli.Ok(Args(11)).Stdout;
        Assert.Equal(first, Cli.Ok(Args(11)).Stdout);
        Assert.NotEqual(first, Cli.Ok(Args(12)).Stdout);

        var options = new SamplingOptions { MaxNewTokens = 32, Temperature = 0.9, TopK = 40, TopP = 0.95, Seed = 11 };
        Assert.Equal(Expect.Generated(folder, Ids(Prompt), options) + "\n", first);
    }

    [Fact]
    public void Chat_sends_the_prompt_as_a_user_message_through_the_model_template()
    {
        var folder = models.Folder("llama");
        var result = Cli.Ok("generate", "--model", folder, "--prompt", "hi there", "--chat", "--temperature", "0", "--max-tokens", "16");

        var chatIds = ChatTemplate.ChatML.Encode([ChatMessage.FromUser("hi there")], ByteTokenizer.Instance, addGenerationPrompt: true).Ids;
        Assert.Equal(Expect.Generated(folder, chatIds, SamplingOptions.Greedy(16)) + "\n", result.Stdout);
        Assert.Contains($"prompt {chatIds.Count} tokens", result.Stderr);
    }

    [Fact]
    public void Stop_string_ends_the_text_before_it()
    {
        var folder = models.Folder("llama");
        string[] args = ["generate", "--model", folder, "--prompt", Prompt, "--temperature", "1", "--seed", "3", "--max-tokens", "48"];
        var full = Cli.Ok(args).Stdout.TrimEnd('\n');
        // A stop string of two printable characters that spans two tokens, from the middle of the text.
        var at = Enumerable.Range(4, Math.Max(0, full.Length - 6)).FirstOrDefault(i => full[i] is > ' ' and < '\x7f' && full[i + 1] is > ' ' and < '\x7f', -1);
        Assert.True(at >= 0, $"the seeded text has no two printable ASCII characters in a row: {full}");
        var stop = full.Substring(at, 2);

        var stopped = Cli.Ok([.. args, "--stop", stop]);
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)] + "\n", stopped.Stdout);
        Assert.Contains("finish: stop", stopped.Stderr);

        var unmatched = Cli.Ok([.. args, "--stop", "never in this text", "--stop", "\u00a7\u00a7"]);
        Assert.Equal(full + "\n", unmatched.Stdout);
    }
}
