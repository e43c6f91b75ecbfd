namespace Assistant.Tokenization;

/// <summary>A named control token of a tokenizer: its text and its id.</summary>
public readonly record struct SpecialToken(string Text, int Id);
