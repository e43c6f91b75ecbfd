using System.Buffers;
using System.Text;

namespace Assistant.Datasets;

/// <summary>
/// Finds personal data in text without regular expressions (it runs over every record): e-mail addresses; phone
/// numbers in common written forms (international <c>+CC ...</c>, and national <c>(555) 123-4567</c>,
/// <c>555-123-4567</c>, <c>8 912 345-67-89</c> shapes; a bare run of digits is not taken for a phone); card numbers
/// of 13 to 19 digits that pass the Luhn check; IBANs that pass the ISO 13616 mod-97 check.
/// </summary>
public static class PiiScanner
{
    private static readonly SearchValues<char> Triggers = SearchValues.Create("@0123456789");

    // National phone shapes (digit groups after an optional one-digit trunk prefix 1, 7 or 8).
    private static readonly int[][] NationalPhoneShapes = [[3, 3, 4], [3, 3, 2, 2], [3, 4, 4]];

    /// <summary>The kinds of personal data found.</summary>
    internal enum Kind { Email, Phone, Card, Iban }

    /// <summary>Matches per kind in <paramref name="text"/>; <see cref="PiiFindings.ExamplesWithPii"/> is 1 when there is any.</summary>
    public static PiiFindings Scan(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var counts = new PiiCounts();
        counts.Add(text.AsSpan());
        return new PiiFindings(counts.Emails, counts.Phones, counts.Cards, counts.Ibans, counts.Any ? 1 : 0);
    }

    /// <summary>The text with each match replaced by <c>[EMAIL]</c>, <c>[PHONE]</c>, <c>[CARD]</c> or <c>[IBAN]</c>.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var span = text.AsSpan();
        StringBuilder? result = null;
        var copied = 0;
        for (var from = 0; NextMatch(span, from, out var start, out var length, out var kind); from = start + length)
        {
            result ??= new StringBuilder(text.Length);
            result.Append(span[copied..start]).Append(kind switch
            {
                Kind.Email => "[EMAIL]",
                Kind.Phone => "[PHONE]",
                Kind.Card => "[CARD]",
                _ => "[IBAN]",
            });
            copied = start + length;
        }

        return result is null ? text : result.Append(span[copied..]).ToString();
    }

    /// <summary>The first match at or after <paramref name="from"/>.</summary>
    internal static bool NextMatch(ReadOnlySpan<char> text, int from, out int start, out int length, out Kind kind)
    {
        var floor = from; // matches never reach back before the previous one's end
        var i = from;
        while (i < text.Length)
        {
            var found = text[i..].IndexOfAny(Triggers);
            if (found < 0)
            {
                break;
            }

            var p = i + found;
            if (text[p] == '@')
            {
                if (TryEmail(text, p, floor, out start, out var end))
                {
                    (length, kind) = (end - start, Kind.Email);
                    return true;
                }

                i = p + 1;
                continue;
            }

            if (p >= floor + 2 && TryIban(text, p - 2, out var ibanEnd))
            {
                (start, length, kind) = (p - 2, ibanEnd - (p - 2), Kind.Iban);
                return true;
            }

            var numberEnd = TryNumber(text, p, floor, out start, out var numberKind);
            if (numberKind is { } k)
            {
                (length, kind) = (numberEnd - start, k);
                return true;
            }

            i = numberEnd;
        }

        (start, length, kind) = (0, 0, default);
        return false;
    }

    private static bool TryEmail(ReadOnlySpan<char> text, int at, int floor, out int start, out int end)
    {
        start = at;
        while (start > floor && IsLocalChar(text[start - 1]))
        {
            start--;
        }

        while (start < at && text[start] == '.')
        {
            start++;
        }

        end = at + 1;
        while (end < text.Length && (IsAsciiLetterOrDigit(text[end]) || text[end] is '-' or '.'))
        {
            end++;
        }

        while (end > at + 1 && text[end - 1] is '.' or '-')
        {
            end--; // "write to a@b.com." ends the sentence, not the domain
        }

        if (start == at || end == at + 1)
        {
            return false;
        }

        var domain = text[(at + 1)..end];
        var dot = domain.LastIndexOf('.');
        if (dot <= 0 || domain.Length - dot - 1 < 2 || domain.Contains("..", StringComparison.Ordinal))
        {
            return false;
        }

        foreach (var c in domain[(dot + 1)..])
        {
            if (!char.IsAsciiLetter(c))
            {
                return false;
            }
        }

        return true;
    }

    // An IBAN at q: two capital letters, two check digits, then capitals and digits (in groups of four separated by
    // single spaces, or not), 15 to 34 characters in all; the longest group-aligned prefix that passes mod-97 wins.
    private static bool TryIban(ReadOnlySpan<char> text, int q, out int end)
    {
        end = q;
        if (!char.IsAsciiLetterUpper(text[q]) || !char.IsAsciiLetterUpper(text[q + 1]) || q + 3 >= text.Length
            || !char.IsAsciiDigit(text[q + 2]) || !char.IsAsciiDigit(text[q + 3]) || (q > 0 && char.IsLetterOrDigit(text[q - 1])))
        {
            return false;
        }

        Span<char> compact = stackalloc char[34];
        Span<int> endAt = stackalloc int[35]; // text position after the n-th compact character
        var n = 0;
        var pos = q;
        while (pos < text.Length && n < 34)
        {
            var c = text[pos];
            if (char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c))
            {
                compact[n++] = c;
                endAt[n] = ++pos;
            }
            else if (c == ' ' && n % 4 == 0 && pos + 1 < text.Length && (char.IsAsciiLetterUpper(text[pos + 1]) || char.IsAsciiDigit(text[pos + 1])))
            {
                pos++;
            }
            else
            {
                break;
            }
        }

        for (var length = n; length >= 15; length--)
        {
            var after = endAt[length];
            var boundary = after >= text.Length || !char.IsLetterOrDigit(text[after]);
            if (boundary && Mod97(compact[..length]) == 1)
            {
                end = after;
                return true;
            }
        }

        return false;
    }

    private static int Mod97(ReadOnlySpan<char> iban)
    {
        var remainder = 0;
        for (var k = 0; k < iban.Length; k++)
        {
            var c = iban[(k + 4) % iban.Length]; // the first four characters go to the end
            remainder = char.IsAsciiDigit(c) ? (remainder * 10 + (c - '0')) % 97 : (remainder * 100 + (c - 'A' + 10)) % 97;
        }

        return remainder;
    }

    // A run of digit groups starting at the digit p (with a '+' or '(' just before it): returns where the run ends
    // and, when it is a phone or card number, its start and kind.
    private static int TryNumber(ReadOnlySpan<char> text, int p, int floor, out int start, out Kind? kind)
    {
        kind = null;
        start = p;
        if (p > floor && text[p - 1] is '+' or '(')
        {
            start = p - 1;
        }

        var plus = text[start] == '+';
        Span<int> groups = stackalloc int[12];
        var count = 0;
        var digits = 0;
        var separators = 0;
        char separator = default;
        var mixedSeparators = false;
        var parenthesized = false;
        var pos = start + (plus ? 1 : 0);
        var tooMany = false;
        while (pos < text.Length)
        {
            var paren = text[pos] == '(';
            var runStart = pos + (paren ? 1 : 0);
            var run = runStart;
            while (run < text.Length && char.IsAsciiDigit(text[run]))
            {
                run++;
            }

            if (run == runStart || (paren && (run >= text.Length || text[run] != ')')))
            {
                break;
            }

            if (count == groups.Length)
            {
                tooMany = true;
            }
            else
            {
                groups[count++] = run - runStart;
            }

            digits += run - runStart;
            parenthesized |= paren;
            pos = run + (paren ? 1 : 0);
            if (pos < text.Length && paren && (char.IsAsciiDigit(text[pos])))
            {
                continue;
            }

            if (pos + 1 < text.Length && text[pos] is ' ' or '-' or '.' && (char.IsAsciiDigit(text[pos + 1]) || text[pos + 1] == '('))
            {
                mixedSeparators |= separators > 0 && text[pos] != separator;
                separator = text[pos];
                separators++;
                pos++;
                continue;
            }

            break;
        }

        var end = pos;
        var before = start > 0 ? text[start - 1] : ' ';
        var after = end < text.Length ? text[end] : ' ';
        if (tooMany || count == 0 || char.IsLetterOrDigit(before) || char.IsLetterOrDigit(after) || after is '@' or '_' || before is '_' or '.')
        {
            return Math.Max(end, p + 1);
        }

        var shape = groups[..count];
        if (!plus && !parenthesized && digits is >= 13 and <= 19 && separator != '.' && !mixedSeparators && IsCardShape(shape) && Luhn(text[start..end]))
        {
            kind = Kind.Card;
        }
        else if (plus ? IsInternationalPhone(shape, digits, separators) : separators + (parenthesized ? 1 : 0) > 0 && IsNationalPhone(shape))
        {
            kind = Kind.Phone;
        }

        return end;
    }

    private static bool IsCardShape(ReadOnlySpan<int> groups)
    {
        if (groups.Length == 1)
        {
            return true;
        }

        for (var g = 0; g < groups.Length; g++)
        {
            if (groups[g] < (g == groups.Length - 1 ? 3 : 4))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsInternationalPhone(ReadOnlySpan<int> groups, int digits, int separators)
    {
        if (digits is < 8 or > 15 || (separators == 0 && groups.Length == 1 && digits < 10))
        {
            return false;
        }

        for (var g = 1; g < groups.Length; g++)
        {
            if (groups[g] < 2)
            {
                return false; // country code, then groups of two or more
            }
        }

        return true;
    }

    private static bool IsNationalPhone(ReadOnlySpan<int> groups)
    {
        foreach (var shape in NationalPhoneShapes)
        {
            if (groups.SequenceEqual(shape) || (groups.Length == shape.Length + 1 && groups[0] == 1 && groups[1..].SequenceEqual(shape)))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Luhn(ReadOnlySpan<char> number)
    {
        var sum = 0;
        var doubled = false;
        for (var k = number.Length - 1; k >= 0; k--)
        {
            if (!char.IsAsciiDigit(number[k]))
            {
                continue;
            }

            var d = number[k] - '0';
            if (doubled)
            {
                d = d * 2 > 9 ? d * 2 - 9 : d * 2;
            }

            sum += d;
            doubled = !doubled;
        }

        return sum % 10 == 0;
    }

    private static bool IsLocalChar(char c) => IsAsciiLetterOrDigit(c) || c is '.' or '_' or '%' or '+' or '-';

    private static bool IsAsciiLetterOrDigit(char c) => char.IsAsciiLetterOrDigit(c);
}

/// <summary>Running PII counts over the fields of records (one per worker).</summary>
internal struct PiiCounts
{
    public long Emails;
    public long Phones;
    public long Cards;
    public long Ibans;

    public readonly bool Any => Emails + Phones + Cards + Ibans > 0;

    public void Add(ReadOnlySpan<char> span)
    {
        for (var from = 0; PiiScanner.NextMatch(span, from, out var start, out var length, out var kind); from = start + length)
        {
            switch (kind)
            {
                case PiiScanner.Kind.Email: Emails++; break;
                case PiiScanner.Kind.Phone: Phones++; break;
                case PiiScanner.Kind.Card: Cards++; break;
                default: Ibans++; break;
            }
        }
    }
}
