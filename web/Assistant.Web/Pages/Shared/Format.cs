using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Assistant.Web.Pages.Shared;

/// <summary>How numbers, sizes and times read on the pages (the scripts format live values the same way).</summary>
public static class Format
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.0", Invariant) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0", Invariant) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0", Invariant) + " KiB",
        _ => bytes.ToString(Invariant) + " B",
    };

    public static string Number(double? value) => value switch
    {
        null => "–",
        { } v when !double.IsFinite(v) => "–",
        { } v when v == Math.Floor(v) && Math.Abs(v) < 1e15 => v.ToString("#,0", Invariant),
        { } v when v != 0 && (Math.Abs(v) < 1e-3 || Math.Abs(v) >= 1e6) => v.ToString("0.00e+0", Invariant),
        { } v when Math.Abs(v) >= 100 => v.ToString("#,0", Invariant),
        { } v => v.ToString("0.####", Invariant),
    };

    public static string Percent(double fraction) => (fraction * 100).ToString("0", Invariant) + "%";

    public static string Time(DateTimeOffset? at) => at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", Invariant) + " UTC" : "–";

    public static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("O", Invariant);

    /// <summary>A JSON value as a short text: numbers formatted, strings bare, the rest as JSON.</summary>
    public static string Json(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => Number(value.GetDouble()),
        JsonValueKind.String => value.GetString() ?? "",
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null or JsonValueKind.Undefined => "–",
        _ => value.GetRawText(),
    };

    /// <summary>The number properties of a metrics object, in a stable order (OpenAI's names first).</summary>
    public static IEnumerable<(string Name, double? Value)> Metrics(JsonElement metrics)
    {
        if (metrics.ValueKind != JsonValueKind.Object)
        {
            return [];
        }
        string[] first = ["train_loss", "valid_loss", "train_mean_token_accuracy", "valid_mean_token_accuracy"];
        return metrics.EnumerateObject()
            .Where(p => p.Value.ValueKind is JsonValueKind.Number or JsonValueKind.Null)
            .OrderBy(p => Array.IndexOf(first, p.Name) is var i and >= 0 ? i : first.Length)
            .ThenBy(p => p.Name, StringComparer.Ordinal)
            .Select(p => (p.Name, p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : (double?)null));
    }

    public static string StatusLabel(string status) => status.Replace('_', ' ');
}

/// <summary>Inline SVG drawn on the server for the first paint; charts.js draws the same shapes live.</summary>
public static class Svg
{
    public const int SparkWidth = 120, SparkHeight = 28;

    /// <summary>The points attribute of a sparkline polyline through <paramref name="values"/> (gaps skipped).</summary>
    public static string SparklinePoints(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return "";
        }
        var (min, max) = (values.Min(), values.Max());
        var span = max - min is > 0 and var s ? s : 1;
        var points = new StringBuilder();
        for (var i = 0; i < values.Count; i++)
        {
            var x = values.Count == 1 ? SparkWidth / 2.0 : i * (SparkWidth - 2) / (double)(values.Count - 1) + 1;
            var y = SparkHeight - 2 - (values[i] - min) / span * (SparkHeight - 4);
            points.Append(CultureInfo.InvariantCulture, $"{x:0.#},{y:0.#} ");
        }
        return points.ToString().TrimEnd();
    }

    /// <summary>At most <paramref name="most"/> values, evenly picked, always keeping the last.</summary>
    public static IReadOnlyList<double> Thin(IReadOnlyList<double?> values, int most = 80)
    {
        var finite = values.Where(v => v is { } x && double.IsFinite(x)).Select(v => v!.Value).ToList();
        if (finite.Count <= most)
        {
            return finite;
        }
        var stride = (double)(finite.Count - 1) / (most - 1);
        return Enumerable.Range(0, most).Select(i => finite[(int)Math.Round(i * stride)]).ToList();
    }
}
