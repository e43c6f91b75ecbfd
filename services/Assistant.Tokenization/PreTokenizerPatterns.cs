using System.Text.RegularExpressions;

namespace Assistant.Tokenization;

/// <summary>The regular expressions byte-level BPE tokenizers split text with before merging.</summary>
internal static class PreTokenizerPatterns
{
    /// <summary>GPT-2's split: contractions, letter runs, digit runs, punctuation runs (each with one optional leading space), whitespace.</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    // Hugging Face patterns are Rust regexes; the constructs they use mean the same in .NET when culture-invariant.
    public static Regex Compile(string pattern) => new(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
}
