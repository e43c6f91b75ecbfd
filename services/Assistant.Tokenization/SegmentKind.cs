namespace Assistant.Tokenization;

/// <summary>What a piece of a rendered conversation is, which decides how it is encoded and whether it is trained on.</summary>
internal enum SegmentKind
{
    /// <summary>Template text (role headers, turn markers): special tokens recognised, not trained.</summary>
    Markup,

    /// <summary>A system or user message: special-token strings stay plain text, not trained.</summary>
    Content,

    /// <summary>An assistant message: plain text, trained.</summary>
    AssistantContent,

    /// <summary>The marker that ends an assistant turn: special tokens recognised, trained (so the model learns to stop).</summary>
    AssistantEnd,
}
