using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Assistant.Platform.Datasets;

/// <summary><c>name@version</c> or <c>name@latest</c> (a bare name means latest): how jobs and people name data.</summary>
public sealed partial record DatasetReference(string Name, int? Version)
{
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    public const string NameRule = "lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters";

    public static bool TryParse(string? text, [NotNullWhen(true)] out DatasetReference? reference)
    {
        reference = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }
        var at = text.IndexOf('@');
        var name = at < 0 ? text : text[..at];
        var version = at < 0 ? "latest" : text[(at + 1)..];
        if (!IsValidName(name))
        {
            return false;
        }
        if (version == "latest")
        {
            reference = new DatasetReference(name, null);
            return true;
        }
        if (int.TryParse(version, System.Globalization.NumberStyles.None, null, out var number) && number > 0)
        {
            reference = new DatasetReference(name, number);
            return true;
        }
        return false;
    }

    public override string ToString() => $"{Name}@{(Version?.ToString() ?? "latest")}";

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();
}
