using System.Diagnostics;
using System.Text.Json;
using Assistant.Datasets;
using Assistant.Tokenization;
using Assistant.Platform.Persistence;
using Assistant.Platform.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Assistant.Platform.Datasets;

public sealed class DatasetOptions
{
    /// <summary>Where uploads and derived files wait while they are validated (never in memory).</summary>
    public string StagingDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "assistant-staging");

    public long MaxUploadBytes { get; set; } = 64L * 1024 * 1024 * 1024;

    /// <summary>Raw text is cut into pretraining examples of this many characters, overlapping by <see cref="OverlapChars"/>.</summary>
    public int ChunkChars { get; set; } = 2000;

    public int OverlapChars { get; set; } = 200;
}

public sealed record UploadRequest(
    string Name,
    string? Description,
    string? FileName,
    DatasetFormat? Format,
    int? MaxLength,
    string CreatedBy,
    int? ChunkChars = null,
    int? OverlapChars = null,
    bool RejectDuplicates = false,
    bool RejectOverMaxLength = false,
    string Tokenizer = "gpt2");

/// <summary>One labelling operation on the examples of a version, by 0-based index.</summary>
public sealed record ExampleEdit(string Op, long? Index, string? Answer, JsonElement? Example);

public sealed record ExamplePage(long Offset, int Limit, long Total, IReadOnlyList<ExampleItem> Items);

public sealed record ExampleItem(long Index, long Line, DatasetExample Example);

public sealed record DiffEntry(long? FromIndex, long? ToIndex, string? Before, string? After);

public sealed record DatasetDiff(int From, int To, long Added, long Removed, long Changed, long Unchanged,
    IReadOnlyList<DiffEntry> AddedExamples, IReadOnlyList<DiffEntry> RemovedExamples, IReadOnlyList<DiffEntry> ChangedExamples);

/// <summary>
/// Datasets and their immutable versions: records in Postgres, bytes content-addressed in S3.
/// Every path that creates a version stages the file, validates it, stores its blob, and only then
/// inserts the record, so a rejected or failed request leaves no version behind.
/// </summary>
public sealed class DatasetCatalog(PlatformDbContext db, ArtifactStore artifacts, IOptions<DatasetOptions> options)
{
    public static readonly ActivitySource Activity = new("Assistant.Datasets");
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private const int ListedDiffEntries = 100;

    private DatasetOptions Options => options.Value;

    // ---- upload -------------------------------------------------------------------------------

    /// <summary>Validates an uploaded file already staged on disk and stores it as the dataset's next version.</summary>
    public async Task<(DatasetVersion Version, bool Created)> UploadStagedAsync(UploadRequest request, StagedFile upload, CancellationToken ct)
    {
        using var span = Activity.StartActivity("dataset upload");
        span?.SetTag("dataset.name", request.Name);
        RequireValidName(request.Name);
        if (request.Description is { Length: > 2000 })
        {
            throw new DatasetRequestException("description", "The description is longer than 2000 characters.");
        }

        span?.SetTag("dataset.bytes", upload.Size);
        if (!IsRawText(request.FileName))
        {
            var report = await ValidateAsync(upload, RulesOf(request) with { Format = request.Format }, ct);
            return await StoreVersionAsync(request.Name, request.Description, upload, report, "upload", null, null, null,
                request.FileName, request.CreatedBy, dedupeAgainstLatest: true, ct, request.Tokenizer);
        }

        var chunkChars = request.ChunkChars ?? Options.ChunkChars;
        var overlapChars = request.OverlapChars ?? Options.OverlapChars;
        if (chunkChars < 16 || overlapChars < 0 || overlapChars >= chunkChars)
        {
            throw new DatasetRequestException("chunk_chars", "chunk_chars must be at least 16 and larger than overlap_chars (>= 0).");
        }
        ChunkingResult chunking;
        StagedFile staged;
        await using (var writer = StagedFile.Create(Options.StagingDirectory))
        {
            await using (var input = upload.OpenRead())
            {
                chunking = await RawTextChunker.WriteJsonlAsync(input, request.FileName!, new WriterStream(writer), chunkChars, overlapChars, ct);
            }
            staged = await writer.CompleteAsync();
        }
        await using var chunks = staged;
        var chunkReport = await ValidateAsync(chunks, RulesOf(request) with { Format = DatasetFormat.Text }, ct);
        return await StoreVersionAsync(request.Name, request.Description, chunks, chunkReport, "text", null, null,
            JsonSerializer.Serialize(chunking, Json), request.FileName, request.CreatedBy, dedupeAgainstLatest: true, ct, request.Tokenizer);
    }

    private static bool IsRawText(string? fileName) =>
        Path.GetExtension(fileName ?? "").ToLowerInvariant() is ".txt" or ".md" or ".markdown" or ".zip";

    // ---- reading --------------------------------------------------------------------------------

    public Task<List<Dataset>> ListAsync(CancellationToken ct) =>
        db.Datasets.AsNoTracking().Include(d => d.Versions).OrderBy(d => d.Name).ToListAsync(ct);

    public async Task<Dataset> GetAsync(string name, CancellationToken ct) =>
        await db.Datasets.AsNoTracking().Include(d => d.Versions.OrderBy(v => v.Version)).ThenInclude(v => v.Splits)
            .FirstOrDefaultAsync(d => d.Name == name, ct)
        ?? throw new DatasetNotFoundException($"Dataset '{name}'");

    public async Task<DatasetVersion> ResolveAsync(DatasetReference reference, CancellationToken ct)
    {
        var versions = db.DatasetVersions.AsNoTracking().Include(v => v.Dataset).Include(v => v.Splits)
            .Where(v => v.Dataset!.Name == reference.Name);
        var version = reference.Version is { } number
            ? await versions.FirstOrDefaultAsync(v => v.Version == number, ct)
            : await versions.OrderByDescending(v => v.Version).FirstOrDefaultAsync(ct);
        return version ?? throw new DatasetNotFoundException($"Dataset version '{reference}'");
    }

    public Task<Stream> OpenAsync(DatasetVersion version, CancellationToken ct) => OpenBlobAsync(version.Sha256, ct);

    public Task<Stream> OpenBlobAsync(string sha256, CancellationToken ct) => artifacts.OpenReadAsync(ContentBlob.KeyFor(sha256), ct);

    /// <summary>Pages through examples in file order; <paramref name="search"/> matches any text in the example, case-insensitively.</summary>
    public async Task<ExamplePage> ExamplesAsync(DatasetVersion version, long offset, int limit, string? search, CancellationToken ct)
    {
        if (offset < 0)
        {
            throw new DatasetRequestException("offset", "offset must be 0 or more.");
        }
        if (limit is < 1 or > 500)
        {
            throw new DatasetRequestException("limit", "limit must be between 1 and 500.");
        }
        var items = new List<ExampleItem>(limit);
        long index = -1, matches = 0;
        await using var stream = await OpenAsync(version, ct);
        await foreach (var (line, example) in DatasetReader.ReadAsync(stream, ct))
        {
            index++;
            if (search is { Length: > 0 } && !example.ToJsonLine().Contains(search, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (matches >= offset && items.Count < limit)
            {
                items.Add(new ExampleItem(index, line, example));
            }
            matches++;
        }
        return new ExamplePage(offset, limit, matches, items);
    }

    // ---- derived versions ----------------------------------------------------------------------

    /// <summary>Applies a set of labelling edits to a version and commits the result as a new version.</summary>
    public async Task<DatasetVersion> CommitEditsAsync(DatasetVersion source, string? message, IReadOnlyList<ExampleEdit> edits, string createdBy, CancellationToken ct)
    {
        using var span = Activity.StartActivity("dataset commit");
        if (string.IsNullOrWhiteSpace(message))
        {
            throw new DatasetRequestException("message", "A commit needs a message saying what changed and why.");
        }
        if (edits.Count == 0)
        {
            throw new DatasetRequestException("edits", "A commit needs at least one edit.");
        }

        var byIndex = new Dictionary<long, (int Position, ExampleEdit Edit)>();
        var added = new List<DatasetExample>();
        var format = FormatOf(source);
        for (var i = 0; i < edits.Count; i++)
        {
            var edit = edits[i];
            switch (edit.Op)
            {
                case "accept" or "reject" or "edit":
                    if (edit.Index is not { } index || index < 0 || index >= source.Examples)
                    {
                        throw new DatasetRequestException($"edits[{i}].index", $"index must be between 0 and {source.Examples - 1}.");
                    }
                    if (edit.Op == "edit" && edit.Answer is null)
                    {
                        throw new DatasetRequestException($"edits[{i}].answer", "An edit needs the new assistant answer.");
                    }
                    if (edit.Op == "edit" && format == DatasetFormat.Text)
                    {
                        throw new DatasetRequestException($"edits[{i}].op", "Text examples have no assistant answer to edit.");
                    }
                    if (!byIndex.TryAdd(index, (i, edit)))
                    {
                        throw new DatasetRequestException($"edits[{i}].index", $"Example {index} is edited twice in one commit.");
                    }
                    break;
                case "add":
                    if (edit.Example is not { ValueKind: JsonValueKind.Object } json)
                    {
                        throw new DatasetRequestException($"edits[{i}].example", "An added example must be a JSON object in the dataset's format.");
                    }
                    try
                    {
                        added.Add(DatasetExample.Parse(json.GetRawText(), format));
                    }
                    catch (DatasetFormatException ex)
                    {
                        throw new DatasetRequestException($"edits[{i}].example{(ex.Param is null ? "" : "." + ex.Param)}", ex.Message);
                    }
                    break;
                default:
                    throw new DatasetRequestException($"edits[{i}].op", $"'{edit.Op}' is not an operation; use accept, reject, edit or add.");
            }
        }

        long accepted = 0, rejected = 0, changed = 0;
        StagedFile staged;
        await using (var writer = StagedFile.Create(Options.StagingDirectory))
        {
            long index = -1;
            await using var stream = await OpenAsync(source, ct);
            await foreach (var (_, example) in DatasetReader.ReadAsync(stream, ct))
            {
                index++;
                var kept = example;
                if (byIndex.TryGetValue(index, out var entry))
                {
                    switch (entry.Edit.Op)
                    {
                        case "reject":
                            rejected++;
                            continue;
                        case "edit":
                            kept = example.WithAssistantAnswer(entry.Edit.Answer!);
                            changed++;
                            break;
                        default:
                            accepted++;
                            break;
                    }
                }
                await writer.WriteLineAsync(kept.ToJsonLine(), ct);
            }
            foreach (var example in added)
            {
                await writer.WriteLineAsync(example.ToJsonLine(), ct);
            }
            staged = await writer.CompleteAsync();
        }
        await using var file = staged;
        var report = await ValidateAsync(file, new ValidationOptions { Format = format, Tokenizer = TokenizerOf(source) }, ct);
        var derivation = JsonSerializer.Serialize(new { accepted, rejected, edited = changed, added = added.Count }, Json);
        var (version, _) = await StoreVersionAsync(source.Dataset!.Name, null, file, report, "edit", source.Version, message.Trim(),
            derivation, null, createdBy, dedupeAgainstLatest: false, ct, source.Tokenizer);
        return version;
    }

    /// <summary>A new version with e-mail addresses, phone, card and IBAN numbers replaced by placeholders.</summary>
    public async Task<DatasetVersion> RedactAsync(DatasetVersion source, string createdBy, CancellationToken ct)
    {
        using var span = Activity.StartActivity("dataset redact");
        var format = FormatOf(source);
        long redactedExamples = 0;
        StagedFile staged;
        await using (var writer = StagedFile.Create(Options.StagingDirectory))
        {
            await using var stream = await OpenAsync(source, ct);
            await foreach (var (_, example) in DatasetReader.ReadAsync(stream, ct))
            {
                var line = example.ToJsonLine();
                var redacted = PiiScanner.Redact(line);
                if (line != redacted)
                {
                    redactedExamples++;
                }
                await writer.WriteLineAsync(redacted, ct);
            }
            staged = await writer.CompleteAsync();
        }
        await using var file = staged;
        if (redactedExamples == 0)
        {
            throw new DatasetConflictException($"Version {source.Version} has nothing to redact.");
        }
        var report = await ValidateAsync(file, new ValidationOptions { Format = format, Tokenizer = TokenizerOf(source) }, ct);
        var (version, _) = await StoreVersionAsync(source.Dataset!.Name, null, file, report, "redaction", source.Version,
            $"Redacted personal data in {redactedExamples} example(s)", JsonSerializer.Serialize(new { redacted_examples = redactedExamples }, Json),
            null, createdBy, dedupeAgainstLatest: false, ct, source.Tokenizer);
        return version;
    }

    /// <summary>
    /// Splits a version into train/validation/test with exact counts from the ratios: a seeded shuffle of the
    /// example indices decides each example's part, so the same seed and ratios always give the same split.
    /// </summary>
    public async Task<DatasetSplit> SplitAsync(DatasetVersion source, double[] ratios, int seed, CancellationToken ct)
    {
        using var span = Activity.StartActivity("dataset split");
        if (ratios.Length != 3 || ratios.Any(r => r < 0 || double.IsNaN(r)) || Math.Abs(ratios.Sum() - 1) > 1e-6 || ratios[0] <= 0)
        {
            throw new DatasetRequestException("ratios", "ratios must be three numbers (train, validation, test), each >= 0, train > 0, summing to 1.");
        }
        var existing = await db.DatasetSplits.FirstOrDefaultAsync(s => s.DatasetVersionId == source.Id && s.Seed == seed
            && s.TrainRatio == ratios[0] && s.ValidationRatio == ratios[1] && s.TestRatio == ratios[2], ct);
        if (existing is not null)
        {
            return existing;
        }

        var total = source.Examples;
        var train = (long)Math.Round(total * ratios[0]);
        var validation = Math.Min(total - train, (long)Math.Round(total * ratios[1]));
        var order = new int[total];
        for (var i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        new Random(seed).Shuffle(order);
        var part = new byte[total];
        for (long k = 0; k < total; k++)
        {
            part[order[k]] = k < train ? (byte)0 : k < train + validation ? (byte)1 : (byte)2;
        }

        var writers = new[] { StagedFile.Create(Options.StagingDirectory), StagedFile.Create(Options.StagingDirectory), StagedFile.Create(Options.StagingDirectory) };
        var files = new StagedFile[3];
        try
        {
            long index = 0;
            await using (var stream = await OpenAsync(source, ct))
            {
                await foreach (var (_, example) in DatasetReader.ReadAsync(stream, ct))
                {
                    await writers[part[index++]].WriteLineAsync(example.ToJsonLine(), ct);
                }
            }
            for (var i = 0; i < 3; i++)
            {
                files[i] = await writers[i].CompleteAsync();
                await EnsureBlobAsync(files[i], ct);
            }
            var split = new DatasetSplit
            {
                Id = Guid.NewGuid(),
                DatasetVersionId = source.Id,
                Seed = seed,
                TrainRatio = ratios[0],
                ValidationRatio = ratios[1],
                TestRatio = ratios[2],
                TrainSha256 = files[0].Sha256,
                ValidationSha256 = files[1].Sha256,
                TestSha256 = files[2].Sha256,
                TrainExamples = train,
                ValidationExamples = validation,
                TestExamples = total - train - validation,
                CreatedAt = DateTimeOffset.UtcNow,
            };
            db.DatasetSplits.Add(split);
            await db.SaveChangesAsync(ct);
            return split;
        }
        finally
        {
            foreach (var writer in writers)
            {
                await writer.DisposeAsync();
            }
            foreach (var file in files)
            {
                if (file is not null)
                {
                    await file.DisposeAsync();
                }
            }
        }
    }

    // ---- diff and delete -----------------------------------------------------------------------

    /// <summary>
    /// Examples matched by everything but their assistant answer: same prompt with another answer is "changed",
    /// anything else present on one side only is "added" or "removed".
    /// </summary>
    public async Task<DatasetDiff> DiffAsync(DatasetVersion from, DatasetVersion to, CancellationToken ct)
    {
        var before = await IndexByPromptAsync(from, ct);
        var addedList = new List<DiffEntry>();
        var changedList = new List<DiffEntry>();
        long added = 0, changed = 0, unchanged = 0, index = -1;
        await using (var stream = await OpenAsync(to, ct))
        {
            await foreach (var (_, example) in DatasetReader.ReadAsync(stream, ct))
            {
                index++;
                var line = example.ToJsonLine();
                var key = PromptKey(example);
                if (before.TryGetValue(key, out var candidates) && candidates.Count > 0)
                {
                    var same = candidates.FindIndex(c => c.Line == line);
                    var match = candidates[same >= 0 ? same : 0];
                    candidates.RemoveAt(same >= 0 ? same : 0);
                    if (same >= 0)
                    {
                        unchanged++;
                    }
                    else if (++changed <= ListedDiffEntries)
                    {
                        changedList.Add(new DiffEntry(match.Index, index, match.Line, line));
                    }
                }
                else if (++added <= ListedDiffEntries)
                {
                    addedList.Add(new DiffEntry(null, index, null, line));
                }
            }
        }
        var removed = before.Values.SelectMany(c => c).OrderBy(c => c.Index).ToList();
        return new DatasetDiff(from.Version, to.Version, added, removed.Count, changed, unchanged,
            addedList, removed.Take(ListedDiffEntries).Select(r => new DiffEntry(r.Index, null, r.Line, null)).ToList(), changedList);
    }

    private async Task<Dictionary<string, List<(long Index, string Line)>>> IndexByPromptAsync(DatasetVersion version, CancellationToken ct)
    {
        var index = new Dictionary<string, List<(long, string)>>(StringComparer.Ordinal);
        long i = -1;
        await using var stream = await OpenAsync(version, ct);
        await foreach (var (_, example) in DatasetReader.ReadAsync(stream, ct))
        {
            i++;
            var key = PromptKey(example);
            if (!index.TryGetValue(key, out var list))
            {
                index[key] = list = [];
            }
            list.Add((i, example.ToJsonLine()));
        }
        return index;
    }

    private static string PromptKey(DatasetExample example) =>
        example.Format == DatasetFormat.Text ? example.ToJsonLine() : example.WithAssistantAnswer("").ToJsonLine();

    public async Task DeleteVersionAsync(DatasetVersion version, CancellationToken ct)
    {
        var users = await db.DatasetVersionUsages.Where(u => u.DatasetVersionId == version.Id)
            .Select(u => u.UsedByKind + " " + u.UsedById).ToListAsync(ct);
        if (users.Count > 0)
        {
            throw new DatasetConflictException($"Version {version.Version} of '{version.Dataset!.Name}' is used by {string.Join(", ", users.Take(5))}; it cannot be deleted.");
        }
        var tracked = await db.DatasetVersions.Include(v => v.Splits).FirstAsync(v => v.Id == version.Id, ct);
        var hashes = tracked.Splits.SelectMany(s => new[] { s.TrainSha256, s.ValidationSha256, s.TestSha256 }).Append(tracked.Sha256).Distinct().ToList();
        db.DatasetVersions.Remove(tracked);
        await db.SaveChangesAsync(ct);
        // Bytes go only when nothing else (another version or split) still points at them.
        foreach (var sha in hashes)
        {
            var stillUsed = await db.DatasetVersions.AnyAsync(v => v.Sha256 == sha, ct)
                || await db.DatasetSplits.AnyAsync(s => s.TrainSha256 == sha || s.ValidationSha256 == sha || s.TestSha256 == sha, ct);
            if (!stillUsed && await db.ContentBlobs.FindAsync([sha], ct) is { } blob)
            {
                db.ContentBlobs.Remove(blob);
                await db.SaveChangesAsync(ct);
                await artifacts.DeleteAsync(blob.ObjectKey, ct);
            }
        }
    }

    // ---- storing ---------------------------------------------------------------------------------

    /// <summary>Tokenizers statistics can be counted with: GPT-2 (the default) or the starter model's bytes.</summary>
    public static readonly IReadOnlyDictionary<string, Func<TextTokenizer>> Tokenizers = new Dictionary<string, Func<TextTokenizer>>
    {
        ["gpt2"] = () => Gpt2Tokenizer.Instance,
        ["bytes"] = () => ByteTokenizer.Instance,
    };

    private static ValidationOptions RulesOf(UploadRequest request) => new()
    {
        Tokenizer = Tokenizers.TryGetValue(request.Tokenizer, out var tokenizer)
            ? tokenizer()
            : throw new DatasetRequestException("tokenizer", $"'{request.Tokenizer}' is not a tokenizer: use {string.Join(" or ", Tokenizers.Keys)}."),
        MaxLength = request.MaxLength,
        RejectDuplicates = request.RejectDuplicates,
        RejectOverMaxLength = request.RejectOverMaxLength,
    };

    private static async Task<ValidationReport> ValidateAsync(StagedFile file, ValidationOptions rules, CancellationToken ct)
    {
        using var span = Activity.StartActivity("dataset validate");
        await using var stream = file.OpenRead();
        var report = await DatasetValidator.ValidateAsync(stream, rules, ct);
        span?.SetTag("dataset.problems", report.ProblemCount);
        return report.IsValid ? report : throw new DatasetInvalidException(report);
    }

    private async Task<(DatasetVersion Version, bool Created)> StoreVersionAsync(
        string name, string? description, StagedFile file, ValidationReport report, string origin, int? parent, string? message,
        string? derivation, string? sourceFileName, string createdBy, bool dedupeAgainstLatest, CancellationToken ct, string tokenizer = "gpt2")
    {
        await EnsureBlobAsync(file, ct);
        var statistics = report.Statistics!;
        for (var attempt = 1; ; attempt++)
        {
            var dataset = await db.Datasets.FirstOrDefaultAsync(d => d.Name == name, ct);
            var latest = dataset is null
                ? null
                : await db.DatasetVersions.Where(v => v.DatasetId == dataset.Id).OrderByDescending(v => v.Version).FirstOrDefaultAsync(ct);
            if (dedupeAgainstLatest && latest is not null && latest.Sha256 == file.Sha256)
            {
                latest.Dataset = dataset;
                return (latest, false);
            }
            var now = DateTimeOffset.UtcNow;
            if (dataset is null)
            {
                dataset = new Dataset { Id = Guid.NewGuid(), Name = name, Description = description, CreatedBy = createdBy, CreatedAt = now };
                db.Datasets.Add(dataset);
            }
            else if (description is not null)
            {
                dataset.Description = description;
            }
            var version = new DatasetVersion
            {
                Id = Guid.NewGuid(),
                DatasetId = dataset.Id,
                Dataset = dataset,
                Version = (latest?.Version ?? 0) + 1,
                Origin = origin,
                ParentVersion = parent,
                Message = message,
                Format = report.Format!.Value.ToJsonName(),
                Sha256 = file.Sha256,
                SizeBytes = file.Size,
                Examples = statistics.Examples,
                Tokens = statistics.Tokens,
                Tokenizer = tokenizer,
                Statistics = JsonSerializer.Serialize(statistics, Json),
                Derivation = derivation,
                SourceFileName = sourceFileName is null ? null : Path.GetFileName(sourceFileName),
                CreatedBy = createdBy,
                CreatedAt = now,
            };
            db.DatasetVersions.Add(version);
            try
            {
                await db.SaveChangesAsync(ct);
                return (version, true);
            }
            catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } && attempt < 5)
            {
                // Another request created the dataset or took the version number first: read again and retry.
                db.ChangeTracker.Clear();
            }
        }
    }

    private async Task EnsureBlobAsync(StagedFile file, CancellationToken ct)
    {
        if (await db.ContentBlobs.AsNoTracking().AnyAsync(b => b.Sha256 == file.Sha256, ct))
        {
            return;
        }
        var key = ContentBlob.KeyFor(file.Sha256);
        await artifacts.PutFileAsync(key, file.Path, "application/jsonl", ct);
        db.ContentBlobs.Add(new ContentBlob { Sha256 = file.Sha256, ObjectKey = key, SizeBytes = file.Size, CreatedAt = DateTimeOffset.UtcNow });
        try
        {
            await db.SaveChangesAsync(ct);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            db.ChangeTracker.Clear(); // the same bytes arrived concurrently: one row is enough
        }
    }

    /// <summary>Derived versions count tokens the way their source did.</summary>
    private static TextTokenizer TokenizerOf(DatasetVersion version) =>
        Tokenizers.TryGetValue(version.Tokenizer, out var tokenizer) ? tokenizer() : Gpt2Tokenizer.Instance;

    private static DatasetFormat FormatOf(DatasetVersion version) =>
        DatasetFormats.TryParse(version.Format, out var format)
            ? format
            : throw new InvalidOperationException($"Stored version {version.Version} has an unknown format '{version.Format}'.");

    private static void RequireValidName(string name)
    {
        if (!DatasetReference.IsValidName(name))
        {
            throw new DatasetRequestException("name", $"'{name}' is not a dataset name: use {DatasetReference.NameRule}.");
        }
    }

    /// <summary>Lets the chunker write straight into a staged file (and its hash).</summary>
    private sealed class WriterStream(StagedFile.Writer writer) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => writer.Written;
        public override long Position { get => writer.Written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => writer.WriteAsync(buffer.AsMemory(offset, count), default).AsTask().GetAwaiter().GetResult();
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => writer.WriteAsync(buffer, ct);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => writer.WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();
    }
}
