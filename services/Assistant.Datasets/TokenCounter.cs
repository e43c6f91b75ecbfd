using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using Assistant.Tokenization;

namespace Assistant.Datasets;

/// <summary>
/// Counts tokens for statistics. For GPT-2 it splits text exactly as
/// GPT-2's pre-tokenizer regex does and caches the BPE count of each piece, which is several times faster than
/// encoding (BPE never merges across pieces, so the sum of the pieces' counts is the count of the text).
/// </summary>
internal abstract class TokenCounter
{
    public abstract long Count(ReadOnlySpan<char> text);

    public static TokenCounter Create(TextTokenizer? tokenizer) =>
        tokenizer is null or Gpt2Tokenizer ? new Gpt2TokenCounter() : new EncodingTokenCounter(tokenizer);

    private sealed class EncodingTokenCounter(TextTokenizer tokenizer) : TokenCounter
    {
        public override long Count(ReadOnlySpan<char> text) => tokenizer.Encode(text.ToString()).Count;
    }
}

/// <summary>GPT-2 counts through <see cref="Gpt2PreTokenizer"/> and the process-wide <see cref="Gpt2PieceCache"/>.</summary>
internal sealed class Gpt2TokenCounter : TokenCounter
{
    private const int MaxCachedPieceLength = 32;

    public override long Count(ReadOnlySpan<char> text)
    {
        var cache = Gpt2PieceCache.Shared;
        long count = 0;
        var rest = text;
        while (!rest.IsEmpty)
        {
            var length = Gpt2PreTokenizer.NextPiece(rest);
            var piece = rest[..length];
            rest = rest[length..];
            if (length == 1 && piece[0] < 128)
            {
                count++; // every ASCII character is a token of its own
            }
            else if (length > MaxCachedPieceLength)
            {
                count += Gpt2Bpe.Count(piece);
            }
            else
            {
                count += cache.GetOrAdd(piece);
            }
        }

        return count;
    }
}

/// <summary>
/// Piece to GPT-2 token count, shared by all threads and validations of the process (GPT-2's counts never change):
/// insert-only open addressing with linear probing over fixed power-of-two tables, lock-free (a slot is claimed with
/// a compare-exchange and published with a release write). ASCII pieces of up to 8 characters (most words) are keyed
/// by their bytes packed in a ulong, so a hit reads one 16-byte entry and no string; other pieces by string. When a
/// table is half full, new pieces are counted but no longer cached. About 10 MB when full.
/// </summary>
internal sealed class Gpt2PieceCache
{
    private const int ShortCapacity = 1 << 18;
    private const int LongCapacity = 1 << 17;
    private const int Claimed = -1;

    private readonly ShortEntry[] shortTable = new ShortEntry[ShortCapacity];
    private readonly LongEntry?[] longTable = new LongEntry?[LongCapacity];
    private int shortEntries;
    private int longEntries;

    public static Gpt2PieceCache Shared { get; } = new();

    public int GetOrAdd(ReadOnlySpan<char> piece) =>
        piece.Length <= 8 && TryPackAscii(piece, out var key) ? GetOrAddShort(piece, key) : GetOrAddLong(piece);

    private int GetOrAddShort(ReadOnlySpan<char> piece, ulong key)
    {
        var slot = (int)(((key ^ (ulong)piece.Length) * 0x9E3779B97F4A7C15UL) >> 46) & (ShortCapacity - 1);
        for (var probes = 0; probes < 64; probes++, slot = (slot + 1) & (ShortCapacity - 1))
        {
            ref var entry = ref shortTable[slot];
            var meta = Volatile.Read(ref entry.Meta); // count << 8 | length; 0 = free, -1 = being written
            if (meta > 0)
            {
                if (entry.Key == key && (meta & 0xFF) == piece.Length)
                {
                    return meta >> 8;
                }

                continue;
            }

            if (meta == Claimed)
            {
                continue;
            }

            var count = Gpt2Bpe.Count(piece);
            if (Volatile.Read(ref shortEntries) < ShortCapacity / 2 && Interlocked.CompareExchange(ref entry.Meta, Claimed, 0) == 0)
            {
                entry.Key = key;
                Volatile.Write(ref entry.Meta, count << 8 | piece.Length);
                Interlocked.Increment(ref shortEntries);
            }

            return count;
        }

        return Gpt2Bpe.Count(piece);
    }

    private int GetOrAddLong(ReadOnlySpan<char> piece)
    {
        var slot = (int)(Hash(piece) >> 47) & (LongCapacity - 1);
        for (var probes = 0; probes < 64; probes++, slot = (slot + 1) & (LongCapacity - 1))
        {
            var entry = Volatile.Read(ref longTable[slot]);
            if (entry is not null)
            {
                if (piece.SequenceEqual(entry.Piece))
                {
                    return entry.Count;
                }

                continue;
            }

            var count = Gpt2Bpe.Count(piece);
            if (Volatile.Read(ref longEntries) < LongCapacity / 2
                && Interlocked.CompareExchange(ref longTable[slot], new LongEntry(piece.ToString(), count), null) is null)
            {
                Interlocked.Increment(ref longEntries);
            }

            return count;
        }

        return Gpt2Bpe.Count(piece);
    }

    private static bool TryPackAscii(ReadOnlySpan<char> piece, out ulong key)
    {
        key = 0;
        for (var i = piece.Length - 1; i >= 0; i--)
        {
            var c = piece[i];
            if (c >= 128)
            {
                return false;
            }

            key = (key << 8) | c;
        }

        return true;
    }

    // Four characters per multiply.
    private static ulong Hash(ReadOnlySpan<char> piece)
    {
        var h = 0xCBF29CE484222325UL ^ (ulong)piece.Length;
        var words = MemoryMarshal.Cast<char, ulong>(piece);
        foreach (var w in words)
        {
            h = BitOperations.RotateLeft((h ^ w) * 0x9E3779B97F4A7C15UL, 29);
        }

        foreach (var c in piece[(words.Length * 4)..])
        {
            h = (h ^ c) * 0x9E3779B97F4A7C15UL;
        }

        return h * 0xFF51AFD7ED558CCDUL;
    }

    private struct ShortEntry
    {
        public ulong Key;
        public int Meta;
    }

    private sealed record LongEntry(string Piece, int Count);
}

/// <summary>
/// GPT-2's byte-pair encoding of one pre-tokenized piece, counting tokens only: the piece's UTF-8 bytes are merged
/// pairwise, always the adjacent pair whose concatenation has the lowest rank (leftmost on ties), until no
/// concatenation is a token (tiktoken's algorithm; a GPT-2 rank is the token id). Several times faster than
/// <see cref="TextTokenizer.Encode"/> on a piece, which also matches added tokens and runs the regex again; a test
/// compares the two on every piece of a large sample.
/// </summary>
internal static class Gpt2Bpe
{
    private const int MaxBytes = 192;

    private static readonly Lazy<RankTable> Ranks = new(() => new RankTable(Gpt2Tokenizer.Instance));

    public static int Count(ReadOnlySpan<char> piece)
    {
        // Lone surrogates and long pieces go the tokenizer's own way (rare; the result is the same by definition).
        if (piece.Length * 3 > MaxBytes || piece.ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            return Gpt2Tokenizer.Instance.Encode(piece.ToString()).Count;
        }

        Span<byte> buffer = stackalloc byte[MaxBytes];
        var bytes = buffer[..System.Text.Encoding.UTF8.GetBytes(piece, buffer)];
        var ranks = Ranks.Value;
        var length = bytes.Length;
        if (length == 1 || ranks.Find(bytes) >= 0)
        {
            return 1;
        }

        // starts[k] is where part k begins; rank[k] the rank of parts k and k+1 joined (int.MaxValue when not a token).
        Span<int> starts = stackalloc int[length + 1];
        Span<int> rank = stackalloc int[length];
        var parts = length;
        for (var k = 0; k <= length; k++)
        {
            starts[k] = k;
        }

        for (var k = 0; k < parts - 1; k++)
        {
            rank[k] = Rank(ranks, bytes, starts, k, parts);
        }

        while (parts > 1)
        {
            var best = -1;
            var min = int.MaxValue;
            for (var k = 0; k < parts - 1; k++)
            {
                if (rank[k] < min)
                {
                    (min, best) = (rank[k], k);
                }
            }

            if (best < 0)
            {
                break;
            }

            // Join parts best and best+1: drop start best+1, then re-rank the pairs around the joined part.
            starts[(best + 2)..(parts + 1)].CopyTo(starts[(best + 1)..]);
            if (best + 2 < parts - 1)
            {
                rank[(best + 2)..(parts - 1)].CopyTo(rank[(best + 1)..]);
            }

            parts--;
            if (best > 0)
            {
                rank[best - 1] = Rank(ranks, bytes, starts, best - 1, parts);
            }

            if (best < parts - 1)
            {
                rank[best] = Rank(ranks, bytes, starts, best, parts);
            }
        }

        return parts;
    }

    private static int Rank(RankTable ranks, ReadOnlySpan<byte> bytes, ReadOnlySpan<int> starts, int k, int parts) =>
        k + 1 < parts && ranks.Find(bytes[starts[k]..starts[k + 2]]) is var r and >= 0 ? r : int.MaxValue;

    /// <summary>
    /// Token bytes to rank. Tokens of up to 8 bytes (most) sit in an open-addressing table keyed by the bytes packed
    /// in a ulong plus the length, so a lookup is a multiply and usually one probe; longer ones in a dictionary.
    /// </summary>
    private sealed class RankTable
    {
        private const int Capacity = 1 << 17;

        private readonly ulong[] keys = new ulong[Capacity];
        private readonly byte[] lengths = new byte[Capacity];
        private readonly int[] values = new int[Capacity];
        private readonly Dictionary<string, int> longTokens = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> longLookup;

        public RankTable(TextTokenizer tokenizer)
        {
            longLookup = longTokens.GetAlternateLookup<ReadOnlySpan<char>>();
            for (var id = 0; id < Gpt2Tokenizer.EndOfTextId; id++)
            {
                var token = tokenizer.TokenBytes(id).Span;
                if (token.Length > 8)
                {
                    longTokens[System.Text.Encoding.Latin1.GetString(token)] = id;
                    continue;
                }

                var key = Pack(token);
                var slot = Slot(key, token.Length);
                while (lengths[slot] != 0)
                {
                    slot = (slot + 1) & (Capacity - 1);
                }

                (keys[slot], lengths[slot], values[slot]) = (key, (byte)token.Length, id);
            }
        }

        /// <summary>The rank of these bytes, or -1 when they are not a token.</summary>
        public int Find(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length > 8)
            {
                Span<char> chars = stackalloc char[bytes.Length];
                System.Text.Encoding.Latin1.GetChars(bytes, chars);
                return longLookup.TryGetValue(chars, out var rank) ? rank : -1;
            }

            var key = Pack(bytes);
            for (var slot = Slot(key, bytes.Length); lengths[slot] != 0; slot = (slot + 1) & (Capacity - 1))
            {
                if (keys[slot] == key && lengths[slot] == bytes.Length)
                {
                    return values[slot];
                }
            }

            return -1;
        }

        private static ulong Pack(ReadOnlySpan<byte> bytes)
        {
            if (bytes.Length == 8)
            {
                return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            }

            ulong key = 0;
            for (var i = bytes.Length - 1; i >= 0; i--)
            {
                key = (key << 8) | bytes[i];
            }

            return key;
        }

        private static int Slot(ulong key, int length) =>
            (int)(((key ^ (ulong)length) * 0x9E3779B97F4A7C15UL) >> 47) & (Capacity - 1);
    }
}

/// <summary>
/// GPT-2's pre-tokenizer regex, <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>,
/// as a hand-written scanner over UTF-16 code units with the same character classes .NET's regex uses
/// (<c>\s</c> = <see cref="char.IsWhiteSpace(char)"/>, <c>\p{L}</c> = Lu/Ll/Lt/Lm/Lo, <c>\p{N}</c> = Nd/Nl/No).
/// </summary>
internal static class Gpt2PreTokenizer
{
    private const byte Other = 0, Letter = 1, Number = 2, Space = 3;

    private static readonly byte[] AsciiClass = BuildAsciiClasses();

    /// <summary>The length of the piece the regex matches at the start of a non-empty <paramref name="text"/>.</summary>
    public static int NextPiece(ReadOnlySpan<char> text)
    {
        var c = text[0];
        if (c == '\'' && text.Length > 1)
        {
            var c1 = text[1];
            if (c1 is 's' or 't' or 'm' or 'd')
            {
                return 2;
            }

            if (text.Length > 2 && ((c1 == 'r' && text[2] == 'e') || (c1 == 'v' && text[2] == 'e') || (c1 == 'l' && text[2] == 'l')))
            {
                return 3;
            }
        }

        // " ?X+" for the letter, number and other classes: the optional space binds to a following run.
        var start = c == ' ' && text.Length > 1 && Class(text[1]) != Space ? 1 : 0;
        var kind = Class(text[start]);
        if (kind != Space)
        {
            var end = start + 1;
            while (end < text.Length && Class(text[end]) == kind)
            {
                end++;
            }

            return end;
        }

        // "\s+(?!\S)|\s+": a whitespace run, less its last character when a non-space follows (that one goes with
        // the next piece), unless the run is a single character.
        var run = 1;
        while (run < text.Length && Class(text[run]) == Space)
        {
            run++;
        }

        return run == text.Length || run == 1 ? run : run - 1;
    }

    private static byte Class(char c) => c < 128 ? AsciiClass[c] : ClassOf(c);

    private static byte ClassOf(char c)
    {
        if (char.IsWhiteSpace(c))
        {
            return Space;
        }

        return CharUnicodeInfo.GetUnicodeCategory(c) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
            _ => Other,
        };
    }

    private static byte[] BuildAsciiClasses()
    {
        var classes = new byte[128];
        for (var c = 0; c < 128; c++)
        {
            classes[c] = ClassOf((char)c);
        }

        return classes;
    }
}
