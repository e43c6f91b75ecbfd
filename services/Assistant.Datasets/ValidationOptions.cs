using Assistant.Tokenization;

namespace Assistant.Datasets;

/// <summary>What <see cref="DatasetValidator"/> checks and counts.</summary>
public sealed record ValidationOptions
{
    /// <summary>The 32 MiB cap on one line: a longer line is reported as <c>line_too_long</c> and skipped unread.</summary>
    public const int DefaultMaxLineBytes = 32 * 1024 * 1024;

    /// <summary>The expected format; null = the format of the first valid line, and records in another format are <c>mixed_formats</c>.</summary>
    public DatasetFormat? Format { get; init; }

    /// <summary>The most tokens a record may have; longer ones are counted in <see cref="DatasetStatistics.OverMaxLength"/> and are problems only with <see cref="RejectOverMaxLength"/>.</summary>
    public int? MaxLength { get; init; }

    /// <summary>Report records over <see cref="MaxLength"/> as <c>too_long</c>.</summary>
    public bool RejectOverMaxLength { get; init; }

    /// <summary>How many problems the report lists (in line order); <see cref="ValidationReport.ProblemCount"/> counts all.</summary>
    public int MaxReportedProblems { get; init; } = 50;

    /// <summary>The tokenizer statistics count with; null = GPT-2 (which has a fast counting path).</summary>
    public TextTokenizer? Tokenizer { get; init; }

    /// <summary>Report records equal (in canonical form) to an earlier one as <c>duplicate_example</c>; they are always counted.</summary>
    public bool RejectDuplicates { get; init; }

    /// <summary>
    /// When set, a conversation's tokens are those of its training sequence in this template (markup, bos and eos
    /// included) and a text's get the eos the trainer appends; when null, tokens are the sum over the record's text
    /// fields (message contents, prompt and completion, ...). Slower: the fast GPT-2 path applies only without it.
    /// </summary>
    public ChatTemplate? Template { get; init; }

    /// <summary>The longest line read (bytes, without the line break); see <see cref="DefaultMaxLineBytes"/>.</summary>
    public int MaxLineBytes { get; init; } = DefaultMaxLineBytes;

    /// <summary>Threads that parse and tokenize; null = one per core.</summary>
    public int? MaxDegreeOfParallelism { get; init; }
}
