namespace Assistant.Tokenization;

/// <summary>
/// GPT-2's byte-level alphabet: each of the 256 byte values is written as one printable character, so a
/// byte-level BPE vocabulary can be stored as strings (space is 'Ġ', newline 'Ċ'). Printable Latin-1
/// bytes stand for themselves; the other 68 take the characters from U+0100 upwards, in byte order.
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] CharForByte = BuildCharForByte();
    private static readonly Dictionary<char, byte> ByteForChar =
        Enumerable.Range(0, 256).ToDictionary(b => CharForByte[b], b => (byte)b);

    public static char ToChar(byte value) => CharForByte[value];

    /// <summary>The bytes a vocabulary string stands for, or null when it uses a character outside the alphabet.</summary>
    public static byte[]? ToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            if (!ByteForChar.TryGetValue(token[i], out bytes[i]))
            {
                return null;
            }
        }

        return bytes;
    }

    public static string ToToken(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = CharForByte[bytes[i]];
        }

        return new string(chars);
    }

    private static char[] BuildCharForByte()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }

        return map;
    }
}
