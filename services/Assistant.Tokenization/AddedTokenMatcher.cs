namespace Assistant.Tokenization;

/// <summary>
/// Finds added-token strings in text, leftmost first and longest at a position (so "&lt;|im_end|&gt;"
/// wins over a shorter token that is its prefix), as Hugging Face's added-token splitter does.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => byFirstChar.Count == 0;

    /// <summary>
    /// Non-overlapping matches in order: the index where each starts and the token. A match that
    /// <paramref name="accept"/> refuses (token, start) is not one; scanning goes on inside it.
    /// </summary>
    public IEnumerable<(int Start, AddedToken Token)> Find(string text, Func<AddedToken, int, bool> accept)
    {
        if (IsEmpty)
        {
            yield break;
        }

        var position = 0;
        while (position < text.Length)
        {
            var match = MatchAt(text, position, accept);
            if (match is null)
            {
                position++;
                continue;
            }

            yield return (position, match);
            position += match.Content.Length;
        }
    }

    private AddedToken? MatchAt(string text, int position, Func<AddedToken, int, bool> accept)
    {
        if (!byFirstChar.TryGetValue(text[position], out var candidates))
        {
            return null;
        }

        foreach (var candidate in candidates)
        {
            if (text.AsSpan(position).StartsWith(candidate.Content, StringComparison.Ordinal) && accept(candidate, position))
            {
                return candidate;
            }
        }

        return null;
    }
}
