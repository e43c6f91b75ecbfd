namespace Assistant.Tokenization;

/// <summary>
/// The control tokens training and serving need by role. Any of them may be missing (GPT-2 has no pad,
/// byte-level vocabularies have no unk).
/// </summary>
public sealed record SpecialTokens(SpecialToken? Bos, SpecialToken? Eos, SpecialToken? Pad, SpecialToken? Unk)
{
    /// <summary>No control tokens at all.</summary>
    public static SpecialTokens None { get; } = new(null, null, null, null);
}
