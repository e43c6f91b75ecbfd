using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Assistant.Tokenization;

/// <summary>
/// Splits text at a regex like Hugging Face's <c>Split</c> pre-tokenizer with behaviour "Isolated": every
/// match is a piece and so is every stretch between matches. <see cref="RegexPreTokenizer"/> drops the
/// stretches between matches, which would lose text for a pattern that does not cover every character.
/// </summary>
internal sealed class IsolatingRegexPreTokenizer(Regex pattern) : PreTokenizer
{
    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        if (string.IsNullOrEmpty(text))
        {
            yield break;
        }

        var end = 0;
        for (var match = pattern.Match(text); match.Success; match = match.NextMatch())
        {
            if (match.Length == 0)
            {
                continue;
            }

            if (match.Index > end)
            {
                yield return (end, match.Index - end);
            }

            yield return (match.Index, match.Length);
            end = match.Index + match.Length;
        }

        if (end < text.Length)
        {
            yield return (end, text.Length - end);
        }
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());
}
