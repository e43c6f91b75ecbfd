using System.Text.Json;

namespace Assistant.Web.Gateway;

/// <summary>A dataset and its version history (<c>GET /api/datasets/{name}</c>).</summary>
public sealed record DatasetDetail(string Name, string? Description, string CreatedBy, DateTimeOffset CreatedAt, IReadOnlyList<DatasetVersion> Versions);

/// <summary>One immutable version: how it came to be (origin, parent, message), its size and the validator's statistics.</summary>
public sealed record DatasetVersion(
    string Dataset, int Version, string Ref, string Origin, int? ParentVersion, string? Message, string Format, string Sha256,
    long SizeBytes, long Examples, long Tokens, string Tokenizer, DatasetStatistics? Statistics, JsonElement? Derivation,
    string? SourceFileName, string CreatedBy, DateTimeOffset CreatedAt, IReadOnlyList<DatasetSplit> Splits, bool Deduplicated = false);

/// <summary>What the validator counted over a version's records.</summary>
public sealed record DatasetStatistics(
    long Examples, long Tokens, long MinTokens, long MaxTokens, double MeanTokens, IReadOnlyList<TokenHistogramBucket>? TokenHistogram,
    long OverMaxLength, IReadOnlyDictionary<string, long>? RoleCounts, long Duplicates, PiiFindings? Pii, long Bytes);

/// <summary>Records with <see cref="From"/> &lt;= tokens &lt; <see cref="To"/> (power-of-two ranges).</summary>
public sealed record TokenHistogramBucket(long From, long To, long Count);

public sealed record PiiFindings(long Emails, long Phones, long CardNumbers, long Ibans, long ExamplesWithPii);

/// <summary>A seeded train/validation/test split of a version; <see cref="Parts"/> by part name.</summary>
public sealed record DatasetSplit(Guid Id, int Seed, IReadOnlyList<double> Ratios, IReadOnlyDictionary<string, DatasetSplitPart> Parts, DateTimeOffset CreatedAt);

public sealed record DatasetSplitPart(long Examples, string Sha256);

/// <summary>One record of a version: its 0-based index (what edits name), its line in the file and the record as JSON.</summary>
public sealed record DatasetExample(long Index, long Line, JsonElement Example);

/// <summary>A page of examples; <see cref="Total"/> counts those matching the search.</summary>
public sealed record DatasetExamplePage(long Offset, int Limit, long Total, IReadOnlyList<DatasetExample> Items);

/// <summary>A labelling operation: accept, reject or edit (the answer) an example by index, or add one.</summary>
public sealed record DatasetEdit(string Op, long? Index, string? Answer, JsonElement? Example);

/// <summary>One side or both of a differing example, as JSON lines.</summary>
public sealed record DatasetDiffEntry(long? FromIndex, long? ToIndex, string? Before, string? After);

/// <summary>Counts of what differs between two versions, and the first entries of each kind.</summary>
public sealed record DatasetDiff(
    int From, int To, long Added, long Removed, long Changed, long Unchanged,
    IReadOnlyList<DatasetDiffEntry> AddedExamples, IReadOnlyList<DatasetDiffEntry> RemovedExamples, IReadOnlyList<DatasetDiffEntry> ChangedExamples);
