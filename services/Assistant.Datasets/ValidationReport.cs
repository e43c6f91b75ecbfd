namespace Assistant.Datasets;

/// <summary>
/// The outcome of <see cref="DatasetValidator.ValidateAsync"/>: the dataset's format (null when no record was
/// valid), whether it has no problem at all, how many problems there are and the first ones in line order, and
/// statistics over its well-formed records (null when there is none).
/// </summary>
public sealed record ValidationReport(DatasetFormat? Format, bool IsValid, long ProblemCount,
    IReadOnlyList<DatasetProblem> Problems, DatasetStatistics? Statistics);

/// <summary>
/// Statistics over the well-formed records of a file (those in the dataset's format with no format problem; records
/// flagged only <c>too_long</c> or <c>duplicate_example</c> are included). <see cref="Bytes"/> is the whole file.
/// </summary>
/// <param name="Examples">Well-formed records.</param>
/// <param name="Tokens">Their tokens in all (see <see cref="ValidationOptions.Template"/> for what is counted).</param>
/// <param name="MinTokens">Fewest tokens in one record.</param>
/// <param name="MaxTokens">Most tokens in one record.</param>
/// <param name="MeanTokens">Tokens per record.</param>
/// <param name="TokenHistogram">Records per power-of-two token range, lowest to highest non-empty range, gaps included.</param>
/// <param name="OverMaxLength">Records over <see cref="ValidationOptions.MaxLength"/> (0 without one).</param>
/// <param name="RoleCounts">Messages per role ("system", "user", "assistant"); the flat conversation formats count one user and one assistant message each.</param>
/// <param name="Duplicates">Records equal in canonical form to an earlier record.</param>
/// <param name="Pii">Personal data found in the records' text.</param>
/// <param name="Bytes">Bytes read from the file.</param>
public sealed record DatasetStatistics(long Examples, long Tokens, long MinTokens, long MaxTokens, double MeanTokens,
    IReadOnlyList<HistogramBucket> TokenHistogram, long OverMaxLength, IReadOnlyDictionary<string, long> RoleCounts,
    long Duplicates, PiiFindings Pii, long Bytes);

/// <summary>Records with <see cref="From"/> &lt;= tokens &lt; <see cref="To"/>; ranges are [1,2), [2,4), [4,8)... ([0,1) for empty records).</summary>
public sealed record HistogramBucket(long From, long To, long Count);

/// <summary>Personal data counted by <see cref="PiiScanner"/>: matches per kind, and records with at least one.</summary>
public sealed record PiiFindings(long Emails, long Phones, long CardNumbers, long Ibans, long ExamplesWithPii)
{
    /// <summary>No findings.</summary>
    public static PiiFindings None { get; } = new(0, 0, 0, 0, 0);
}
