using System.Text;

namespace Assistant.Tokenization;

/// <summary>
/// Decodes ids one at a time for streaming responses. A token may end in the middle of a multi-byte
/// UTF-8 character (byte-level BPE, SentencePiece byte fallback); those bytes are held back until the
/// character is complete, so every emitted piece is valid text and the pieces concatenate to
/// <see cref="TextTokenizer.Decode"/> of the same ids.
/// </summary>
public sealed class StreamingDecoder
{
    private readonly TextTokenizer tokenizer;
    private readonly bool skipSpecialTokens;
    private readonly Decoder utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    private char[] chars = new char[64];
    private bool stripLeadingSpace;

    internal StreamingDecoder(TextTokenizer tokenizer, bool skipSpecialTokens)
    {
        this.tokenizer = tokenizer;
        this.skipSpecialTokens = skipSpecialTokens;
        stripLeadingSpace = tokenizer.StripsLeadingSpace;
    }

    /// <summary>Adds one id; returns the text it completes (often empty while a character is still partial).</summary>
    public string Push(int id)
    {
        var added = tokenizer.AddedTokenFor(id);
        if (added is not null)
        {
            if (added.IsSpecial && skipSpecialTokens)
            {
                return string.Empty;
            }

            // A control token ends any partial character: what is pending can no longer complete.
            return Emit(DecodeBytes([], flush: true) + added.Content);
        }

        return Emit(DecodeBytes(tokenizer.TokenBytes(id).Span, flush: false));
    }

    /// <summary>Ends the stream: bytes of an unfinished character come out as U+FFFD.</summary>
    public string Flush() => Emit(DecodeBytes([], flush: true));

    private string DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        var needed = utf8.GetCharCount(bytes, flush);
        if (needed > chars.Length)
        {
            chars = new char[Math.Max(needed, chars.Length * 2)];
        }

        var written = utf8.GetChars(bytes, chars, flush);
        return new string(chars, 0, written);
    }

    // SentencePiece's decoder removes one space from the start of the whole output (its dummy prefix).
    private string Emit(string text)
    {
        if (stripLeadingSpace && text.Length > 0)
        {
            stripLeadingSpace = false;
            return text[0] == ' ' ? text[1..] : text;
        }

        return text;
    }
}
