namespace Assistant.Tokenization;

/// <summary>
/// Where a run of ordinary text (text between added tokens) sits. SentencePiece and some byte-level
/// tokenizers prepend a space to a run that starts the text or follows an added token, but not to a run
/// that continues text encoded a moment earlier (a chat template's next segment).
/// </summary>
internal enum TextPosition
{
    /// <summary>The first run of the whole text.</summary>
    TextStart,

    /// <summary>A run right after an added token.</summary>
    AfterAddedToken,

    /// <summary>A run that continues ordinary text from the previous segment.</summary>
    Continuation,
}
