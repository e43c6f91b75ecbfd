namespace Assistant.Tokenization;

/// <summary>
/// Builds one token sequence from consecutive pieces of text, each flagged as trained or not, so a loss
/// mask lines up with the ids exactly. Pieces are encoded one after another as parts of the same text:
/// SentencePiece's dummy prefix goes only where whole-text encoding would put it, so the ids equal those of
/// the concatenated text whenever each boundary between pieces is also a pre-token boundary (next to a
/// special token, before a space, after a newline).
/// </summary>
public sealed class TokenSequenceBuilder(TextTokenizer tokenizer)
{
    private readonly List<int> ids = [];
    private readonly List<bool> mask = [];
    private TextPosition position = TextPosition.TextStart;

    /// <summary>The ids so far.</summary>
    public IReadOnlyList<int> Ids => ids;

    /// <summary>For each id, whether it is trained on.</summary>
    public IReadOnlyList<bool> Mask => mask;

    /// <summary>Appends text; special-token strings in it become single ids only if <paramref name="allowSpecialTokens"/>.</summary>
    public TokenSequenceBuilder AppendText(string text, bool allowSpecialTokens, bool trained) =>
        AppendParts([(text, allowSpecialTokens)], trained);

    /// <summary>Appends one id (a control token such as bos).</summary>
    public TokenSequenceBuilder AppendId(int id, bool trained)
    {
        ids.Add(id);
        mask.Add(trained);
        position = TextPosition.AfterAddedToken;
        return this;
    }

    /// <summary>
    /// Appends several parts encoded as one text (so no pre-token is cut at their joins), matching a special
    /// token only where it lies wholly inside a part that allows special tokens.
    /// </summary>
    internal TokenSequenceBuilder AppendParts(IReadOnlyList<(string Text, bool AllowSpecialTokens)> parts, bool trained)
    {
        var allowed = new List<(int Start, int End)>();
        var offset = 0;
        foreach (var (text, allowSpecialTokens) in parts)
        {
            if (allowSpecialTokens)
            {
                allowed.Add((offset, offset + text.Length));
            }

            offset += text.Length;
        }

        var before = ids.Count;
        tokenizer.EncodeInto(
            string.Concat(parts.Select(p => p.Text)),
            (token, start) => allowed.Any(r => start >= r.Start && start + token.Content.Length <= r.End),
            ref position,
            ids);
        mask.AddRange(Enumerable.Repeat(trained, ids.Count - before));
        return this;
    }
}
