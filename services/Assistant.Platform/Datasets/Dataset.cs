namespace Assistant.Platform.Datasets;

/// <summary>A named collection of training examples; its content lives in immutable versions.</summary>
public sealed class Dataset
{
    public Guid Id { get; set; }
    public required string Name { get; set; }
    public string? Description { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public List<DatasetVersion> Versions { get; set; } = [];
}

/// <summary>
/// One immutable state of a dataset. Its bytes are a content-addressed blob in S3, so the same bytes
/// are stored once however often they are uploaded or re-derived.
/// </summary>
public sealed class DatasetVersion
{
    public Guid Id { get; set; }
    public Guid DatasetId { get; set; }
    public Dataset? Dataset { get; set; }
    public int Version { get; set; }
    /// <summary>How this version came to be: upload, edit (labelling commit), redaction, text (chunked raw text).</summary>
    public required string Origin { get; set; }
    public int? ParentVersion { get; set; }
    public string? Message { get; set; }
    public required string Format { get; set; }
    public required string Sha256 { get; set; }
    public long SizeBytes { get; set; }
    public long Examples { get; set; }
    public long Tokens { get; set; }
    public required string Tokenizer { get; set; }
    /// <summary>The validator's statistics, as JSON (histogram, role counts, duplicates, PII findings).</summary>
    public required string Statistics { get; set; }
    /// <summary>
    /// How this version was derived, as JSON: for raw text the chunking (documents, chunk size, overlap),
    /// for a labelling commit the counts of accepted, rejected, edited and added examples, for a redaction what was redacted.
    /// </summary>
    public string? Derivation { get; set; }
    public string? SourceFileName { get; set; }
    public required string CreatedBy { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
    public List<DatasetSplit> Splits { get; set; } = [];
}

/// <summary>A deterministic (seeded) train/validation/test split of a version; each part is its own blob.</summary>
public sealed class DatasetSplit
{
    public Guid Id { get; set; }
    public Guid DatasetVersionId { get; set; }
    public DatasetVersion? DatasetVersion { get; set; }
    public int Seed { get; set; }
    public double TrainRatio { get; set; }
    public double ValidationRatio { get; set; }
    public double TestRatio { get; set; }
    public required string TrainSha256 { get; set; }
    public required string ValidationSha256 { get; set; }
    public required string TestSha256 { get; set; }
    public long TrainExamples { get; set; }
    public long ValidationExamples { get; set; }
    public long TestExamples { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>Bytes stored once per SHA-256 in the object store.</summary>
public sealed class ContentBlob
{
    public required string Sha256 { get; set; }
    public required string ObjectKey { get; set; }
    public long SizeBytes { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public static string KeyFor(string sha256) => $"blobs/sha256/{sha256[..2]}/{sha256}";
}

/// <summary>Something (a training job, an evaluation) that reads a dataset version; a used version cannot be deleted.</summary>
public sealed class DatasetVersionUsage
{
    public Guid DatasetVersionId { get; set; }
    public required string UsedByKind { get; set; }
    public required string UsedById { get; set; }
    public DateTimeOffset CreatedAt { get; set; }
}
