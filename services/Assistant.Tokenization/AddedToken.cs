namespace Assistant.Tokenization;

/// <summary>
/// A token matched as one id straight from its text (Hugging Face "added token"): control markers such
/// as <c>&lt;|im_end|&gt;</c> (special) or words a fine-tune added to the vocabulary (not special).
/// </summary>
/// <param name="Content">The exact text that stands for the token.</param>
/// <param name="Id">The token id.</param>
/// <param name="IsSpecial">Special tokens are recognised in text only when the caller allows it, and
/// <see cref="TextTokenizer.Decode"/> can skip them; other added tokens are always recognised.</param>
public sealed record AddedToken(string Content, int Id, bool IsSpecial);
