namespace Assistant.Tokenization;

/// <summary>
/// A conversation as token ids, with a same-length mask that is true on the tokens training computes the
/// loss on: each assistant message's content and its end-of-turn marker.
/// </summary>
public sealed record EncodedConversation(IReadOnlyList<int> Ids, IReadOnlyList<bool> AssistantMask)
{
    /// <summary>How many tokens the loss covers.</summary>
    public int AssistantTokenCount => AssistantMask.Count(m => m);
}
