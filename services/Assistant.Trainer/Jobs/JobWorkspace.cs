using System.Security.Cryptography;
using Amazon.S3;
using Assistant.Platform.Datasets;
using Assistant.Platform.Storage;

namespace Assistant.Trainer.Jobs;

/// <summary>
/// A job's folder on the worker: the base model (<c>model/</c>), the data files (<c>data/</c>), the run's
/// output (<c>out/</c>: metrics, <c>checkpoint-N/</c>, <c>final/</c>) and the spec handed to the job process.
/// Removed when the run ends; nothing in it is the only copy of anything.
/// </summary>
public sealed class JobWorkspace : IDisposable
{
    private readonly ILogger _logger;

    public JobWorkspace(string root, ILogger logger)
    {
        Root = root;
        _logger = logger;
        // A folder left by an earlier attempt of this worker holds nothing that S3 does not: start clean.
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(ModelFolder);
        Directory.CreateDirectory(DataFolder);
        Directory.CreateDirectory(OutputFolder);
    }

    public string Root { get; }
    public string ModelFolder => Path.Combine(Root, "model");
    public string DataFolder => Path.Combine(Root, "data");
    public string OutputFolder => Path.Combine(Root, "out");
    public string SpecFile => Path.Combine(Root, "spec.json");

    public string DataFile(string role) => Path.Combine(DataFolder, role + ".jsonl");

    /// <summary>
    /// Downloads a content-addressed dataset blob to <paramref name="path"/> and checks its SHA-256, so the job
    /// trains on exactly the bytes the platform validated. Throws <see cref="MissingDatasetException"/> when
    /// the bytes are gone or differ.
    /// </summary>
    public static async Task DownloadBlobAsync(ArtifactStore artifacts, string sha256, string path, CancellationToken ct)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            await using var source = await artifacts.OpenReadAsync(ContentBlob.KeyFor(sha256), ct);
            await using var target = File.Create(path);
            var buffer = new byte[81920];
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), ct);
            }
        }
        catch (AmazonS3Exception e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw new MissingDatasetException($"the file's bytes (sha256 {sha256}) are missing from the object store");
        }
        var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
        if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
            throw new MissingDatasetException($"the stored bytes hash to {actual}, not to the recorded sha256 {sha256}");
    }

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _logger.LogWarning(e, "Could not remove job folder {Folder}", Root);
        }
    }
}

/// <summary>A dataset file a job needs cannot be read from storage.</summary>
public sealed class MissingDatasetException(string message) : Exception(message);
