using System.Text.Json;
using Assistant.Datasets;
using Assistant.Platform.Datasets;
using Assistant.Platform.Security;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Assistant.TrainingApi.Apis;

public sealed record DatasetSummaryDto(string Name, string? Description, int? LatestVersion, long? Examples, string? Format, DateTimeOffset CreatedAt);

public sealed record DatasetDto(string Name, string? Description, string CreatedBy, DateTimeOffset CreatedAt, IReadOnlyList<DatasetVersionDto> Versions);

public sealed record DatasetSplitDto(Guid Id, int Seed, double[] Ratios, IReadOnlyDictionary<string, DatasetSplitPartDto> Parts, DateTimeOffset CreatedAt);

public sealed record DatasetSplitPartDto(long Examples, string Sha256);

public sealed record DatasetVersionDto(
    string Dataset, int Version, string Ref, string Origin, int? ParentVersion, string? Message, string Format,
    string Sha256, long SizeBytes, long Examples, long Tokens, string Tokenizer, JsonElement Statistics, JsonElement? Derivation,
    string? SourceFileName, string CreatedBy, DateTimeOffset CreatedAt, IReadOnlyList<DatasetSplitDto> Splits, bool Deduplicated = false)
{
    public static DatasetVersionDto From(DatasetVersion v, string dataset, bool deduplicated = false) => new(
        dataset, v.Version, $"{dataset}@{v.Version}", v.Origin, v.ParentVersion, v.Message, v.Format, v.Sha256, v.SizeBytes,
        v.Examples, v.Tokens, v.Tokenizer, Json(v.Statistics),
        v.Derivation is null ? null : Json(v.Derivation),
        v.SourceFileName, v.CreatedBy, v.CreatedAt, v.Splits.OrderBy(s => s.CreatedAt).Select(SplitDto).ToList(), deduplicated);

    /// <summary>A stored JSON text as a self-contained element (no pooled document left undisposed).</summary>
    public static JsonElement Json(string text) => JsonSerializer.Deserialize<JsonElement>(text);

    public static DatasetSplitDto SplitDto(DatasetSplit s) => new(s.Id, s.Seed, [s.TrainRatio, s.ValidationRatio, s.TestRatio],
        new Dictionary<string, DatasetSplitPartDto>
        {
            ["train"] = new(s.TrainExamples, s.TrainSha256),
            ["validation"] = new(s.ValidationExamples, s.ValidationSha256),
            ["test"] = new(s.TestExamples, s.TestSha256),
        }, s.CreatedAt);
}

public sealed record ExampleDto(long Index, long Line, JsonElement Example);

public sealed record ExamplePageDto(long Offset, int Limit, long Total, IReadOnlyList<ExampleDto> Items);

public sealed record SplitRequest(double[]? Ratios, int? Seed);

public sealed record CommitRequest(string? Message, IReadOnlyList<ExampleEdit>? Edits);

/// <summary>
/// Datasets under <c>/api/datasets</c>: upload (streamed, validated before anything is stored), versions,
/// examples, splits, labelling commits, redaction, diff and delete. Domain errors become problem details
/// in <see cref="ApiProblems"/>, so handlers state only their success results.
/// </summary>
public static class DatasetsApi
{
    public static IEndpointRouteBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/datasets").WithTags("Datasets").AddEndpointFilter<ApiProblems>();

        api.MapPost("/", Upload).DisableAntiforgery()
            .WithName("UploadDataset").RequireScope(ApiScopes.Train)
            .WithSummary("Upload a dataset file (multipart field 'file', or the raw body): JSONL in a supported format, or .txt/.md/.zip text for pretraining. Validated before a version is stored.")
            .Produces<DatasetVersionDto>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest);
        api.MapGet("/", List).WithName("ListDatasets").RequireScope(ApiScopes.Read).WithSummary("All datasets with their latest version.");
        api.MapGet("/{name}", Get).WithName("GetDataset").RequireScope(ApiScopes.Read).WithSummary("A dataset and its version history.");
        api.MapGet("/{name}/versions/{version}", GetVersion).WithName("GetDatasetVersion").RequireScope(ApiScopes.Read)
            .WithSummary("One version (a number or 'latest') with its statistics and splits.");
        api.MapGet("/{name}/versions/{version}/examples", Examples).WithName("ListDatasetExamples").RequireScope(ApiScopes.Read)
            .WithSummary("Pages through a version's examples; 'search' filters by text.");
        api.MapGet("/{name}/versions/{version}/download", Download).WithName("DownloadDatasetVersion").RequireScope(ApiScopes.Read)
            .WithSummary("The version's JSONL bytes.");
        api.MapPost("/{name}/versions/{version}/splits", Split).WithName("SplitDatasetVersion").RequireScope(ApiScopes.Train)
            .WithSummary("Split deterministically (seeded) into train/validation/test by ratio.");
        api.MapGet("/{name}/versions/{version}/splits/{splitId:guid}/{part}", DownloadSplit).WithName("DownloadDatasetSplit").RequireScope(ApiScopes.Read)
            .WithSummary("The JSONL bytes of one part (train, validation, test) of a split.");
        api.MapPost("/{name}/versions/{version}/commits", Commit).WithName("CommitDatasetEdits").RequireScope(ApiScopes.Train)
            .WithSummary("Commit labelling edits (accept, reject, edit answer, add) as a new version with a message.");
        api.MapPost("/{name}/versions/{version}/redactions", Redact).WithName("RedactDatasetVersion").RequireScope(ApiScopes.Train)
            .WithSummary("A new version with personal data (e-mails, phones, card numbers, IBANs) replaced by placeholders.");
        api.MapGet("/{name}/diff", Diff).WithName("DiffDatasetVersions").RequireScope(ApiScopes.Read)
            .WithSummary("Examples added, removed and changed between two versions (?from=&to=).");
        api.MapDelete("/{name}/versions/{version}", Delete).WithName("DeleteDatasetVersion").RequireScope(ApiScopes.Train)
            .WithSummary("Delete a version no job uses (409 otherwise).");
        return app;
    }

    private static async Task<Results<Created<DatasetVersionDto>, Ok<DatasetVersionDto>>> Upload(
        HttpContext http, DatasetCatalog catalog, IOptions<DatasetOptions> options, CancellationToken ct)
    {
        // Large files are the point: lift the server's default body limit for this request only.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = options.Value.MaxUploadBytes;
        }
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in http.Request.Query)
        {
            fields[key] = value.ToString();
        }

        StagedFile? file = null;
        string? fileName = fields.GetValueOrDefault("file_name");
        try
        {
            if (MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var contentType)
                && contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value
                    ?? throw new DatasetRequestException("Content-Type", "The multipart body has no boundary.");
                var reader = new MultipartReader(boundary, http.Request.Body);
                while (await reader.ReadNextSectionAsync(ct) is { } section)
                {
                    if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition))
                    {
                        continue;
                    }
                    if (disposition.IsFileDisposition())
                    {
                        if (file is not null)
                        {
                            throw new DatasetRequestException("file", "Send one file per upload.");
                        }
                        fileName ??= HeaderUtilities.RemoveQuotes(disposition.FileName).Value;
                        file = await StagedFile.CopyFromAsync(section.Body, options.Value.StagingDirectory, options.Value.MaxUploadBytes, ct);
                    }
                    else if (HeaderUtilities.RemoveQuotes(disposition.Name).Value is { } field)
                    {
                        using var text = new StreamReader(section.Body);
                        fields[field] = await text.ReadToEndAsync(ct);
                    }
                }
                if (file is null)
                {
                    throw new DatasetRequestException("file", "The multipart body has no file part.");
                }
            }
            else
            {
                file = await StagedFile.CopyFromAsync(http.Request.Body, options.Value.StagingDirectory, options.Value.MaxUploadBytes, ct);
            }

            var request = new UploadRequest(
                Name: fields.GetValueOrDefault("name") ?? throw new DatasetRequestException("name", "A dataset needs a name."),
                Description: fields.GetValueOrDefault("description"),
                FileName: fileName,
                Format: ParseFormat(fields.GetValueOrDefault("format")),
                MaxLength: ParsePositive(fields, "max_length"),
                CreatedBy: Caller.Of(http),
                ChunkChars: ParsePositive(fields, "chunk_chars"),
                OverlapChars: ParseNonNegative(fields, "overlap_chars"),
                RejectDuplicates: ParseBool(fields, "reject_duplicates"),
                RejectOverMaxLength: ParseBool(fields, "reject_over_max_length"),
                Tokenizer: fields.GetValueOrDefault("tokenizer") is { Length: > 0 } tokenizer ? tokenizer : "gpt2");
            var (version, created) = await catalog.UploadStagedAsync(request, file, ct);
            var dto = DatasetVersionDto.From(version, request.Name, deduplicated: !created);
            return created
                ? TypedResults.Created($"/api/datasets/{request.Name}/versions/{version.Version}", dto)
                : TypedResults.Ok(dto);
        }
        finally
        {
            if (file is not null)
            {
                await file.DisposeAsync();
            }
        }
    }

    private static async Task<Ok<List<DatasetSummaryDto>>> List(DatasetCatalog catalog, CancellationToken ct)
    {
        var datasets = await catalog.ListAsync(ct);
        return TypedResults.Ok(datasets.Select(d =>
        {
            var latest = d.Versions.MaxBy(v => v.Version);
            return new DatasetSummaryDto(d.Name, d.Description, latest?.Version, latest?.Examples, latest?.Format, d.CreatedAt);
        }).ToList());
    }

    private static async Task<Ok<DatasetDto>> Get(string name, DatasetCatalog catalog, CancellationToken ct)
    {
        var dataset = await catalog.GetAsync(name, ct);
        return TypedResults.Ok(new DatasetDto(dataset.Name, dataset.Description, dataset.CreatedBy, dataset.CreatedAt,
            dataset.Versions.Select(v => DatasetVersionDto.From(v, dataset.Name)).ToList()));
    }

    private static async Task<Ok<DatasetVersionDto>> GetVersion(string name, string version, DatasetCatalog catalog, CancellationToken ct) =>
        TypedResults.Ok(DatasetVersionDto.From(await ResolveAsync(catalog, name, version, ct), name));

    private static async Task<Ok<ExamplePageDto>> Examples(
        string name, string version, DatasetCatalog catalog, CancellationToken ct, long offset = 0, int limit = 20, string? search = null)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        var page = await catalog.ExamplesAsync(resolved, offset, limit, search, ct);
        return TypedResults.Ok(new ExamplePageDto(page.Offset, page.Limit, page.Total,
            page.Items.Select(i => new ExampleDto(i.Index, i.Line, DatasetVersionDto.Json(i.Example.ToJsonLine()))).ToList()));
    }

    private static async Task<FileStreamHttpResult> Download(string name, string version, DatasetCatalog catalog, CancellationToken ct)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        return TypedResults.Stream(await catalog.OpenAsync(resolved, ct), "application/jsonl", $"{name}-v{resolved.Version}.jsonl");
    }

    private static async Task<FileStreamHttpResult> DownloadSplit(
        string name, string version, Guid splitId, string part, DatasetCatalog catalog, CancellationToken ct)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        var split = resolved.Splits.FirstOrDefault(s => s.Id == splitId) ?? throw new DatasetNotFoundException($"Split {splitId} of {name}@{resolved.Version}");
        var sha = part switch
        {
            "train" => split.TrainSha256,
            "validation" => split.ValidationSha256,
            "test" => split.TestSha256,
            _ => throw new DatasetRequestException("part", "part must be train, validation or test."),
        };
        return TypedResults.Stream(await catalog.OpenBlobAsync(sha, ct), "application/jsonl", $"{name}-v{resolved.Version}-{part}.jsonl");
    }

    private static async Task<Created<DatasetSplitDto>> Split(string name, string version, SplitRequest request, DatasetCatalog catalog, CancellationToken ct)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        var split = await catalog.SplitAsync(resolved, request.Ratios ?? [0.8, 0.1, 0.1], request.Seed ?? 42, ct);
        return TypedResults.Created($"/api/datasets/{name}/versions/{resolved.Version}/splits/{split.Id}", DatasetVersionDto.SplitDto(split));
    }

    private static async Task<Created<DatasetVersionDto>> Commit(
        string name, string version, CommitRequest request, HttpContext http, DatasetCatalog catalog, CancellationToken ct)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        var created = await catalog.CommitEditsAsync(resolved, request.Message, request.Edits ?? [], Caller.Of(http), ct);
        return TypedResults.Created($"/api/datasets/{name}/versions/{created.Version}", DatasetVersionDto.From(created, name));
    }

    private static async Task<Created<DatasetVersionDto>> Redact(string name, string version, HttpContext http, DatasetCatalog catalog, CancellationToken ct)
    {
        var resolved = await ResolveAsync(catalog, name, version, ct);
        var created = await catalog.RedactAsync(resolved, Caller.Of(http), ct);
        return TypedResults.Created($"/api/datasets/{name}/versions/{created.Version}", DatasetVersionDto.From(created, name));
    }

    private static async Task<Ok<DatasetDiff>> Diff(string name, string? from, string? to, DatasetCatalog catalog, CancellationToken ct)
    {
        var before = await ResolveAsync(catalog, name, from ?? throw new DatasetRequestException("from", "Give the version to compare from (?from=)."), ct);
        var after = await ResolveAsync(catalog, name, to ?? "latest", ct);
        return TypedResults.Ok(await catalog.DiffAsync(before, after, ct));
    }

    private static async Task<NoContent> Delete(string name, string version, DatasetCatalog catalog, CancellationToken ct)
    {
        await catalog.DeleteVersionAsync(await ResolveAsync(catalog, name, version, ct), ct);
        return TypedResults.NoContent();
    }

    private static Task<DatasetVersion> ResolveAsync(DatasetCatalog catalog, string name, string version, CancellationToken ct) =>
        DatasetReference.TryParse($"{name}@{version}", out var reference)
            ? catalog.ResolveAsync(reference, ct)
            : throw new DatasetRequestException("version", $"'{name}@{version}' is not a dataset reference: use a name and a version number or 'latest'.");

    private static DatasetFormat? ParseFormat(string? text) => text switch
    {
        null or "" or "auto" => null,
        _ when DatasetFormats.TryParse(text, out var format) => format,
        _ => throw new DatasetRequestException("format",
            $"'{text}' is not a format: use {string.Join(", ", DatasetFormats.All.Select(f => f.ToJsonName()))} or auto."),
    };

    private static int? ParsePositive(Dictionary<string, string> fields, string name) => ParseInt(fields, name, minimum: 1);

    private static int? ParseNonNegative(Dictionary<string, string> fields, string name) => ParseInt(fields, name, minimum: 0);

    private static bool ParseBool(Dictionary<string, string> fields, string name) =>
        fields.GetValueOrDefault(name) switch
        {
            null or "" or "false" => false,
            "true" => true,
            var text => throw new DatasetRequestException(name, $"{name} must be true or false, not '{text}'."),
        };

    private static int? ParseInt(Dictionary<string, string> fields, string name, int minimum) =>
        fields.GetValueOrDefault(name) switch
        {
            null or "" => null,
            var text when int.TryParse(text, out var value) && value >= minimum => value,
            var text => throw new DatasetRequestException(name, $"{name} must be a whole number >= {minimum}, not '{text}'."),
        };
}
