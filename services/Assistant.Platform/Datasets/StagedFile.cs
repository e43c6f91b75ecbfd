using System.Security.Cryptography;

namespace Assistant.Platform.Datasets;

/// <summary>
/// A file in the staging folder with its SHA-256 and size, computed while it was written; deleted on dispose,
/// so a rejected upload or derivation leaves nothing behind.
/// </summary>
public sealed class StagedFile : IAsyncDisposable
{
    private StagedFile(string path, string sha256, long size)
    {
        Path = path;
        Sha256 = sha256;
        Size = size;
    }

    public string Path { get; }
    public string Sha256 { get; }
    public long Size { get; }

    public FileStream OpenRead() => new(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Copies <paramref name="source"/> to a new staged file, refusing more than <paramref name="maxBytes"/>.</summary>
    public static async Task<StagedFile> CopyFromAsync(Stream source, string directory, long maxBytes, CancellationToken ct)
    {
        var writer = Create(directory);
        try
        {
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await source.ReadAsync(buffer, ct)) > 0)
            {
                if (writer.Written + read > maxBytes)
                {
                    throw new DatasetRequestException("file", $"The file is larger than the limit of {maxBytes:N0} bytes.");
                }
                await writer.WriteAsync(buffer.AsMemory(0, read), ct);
            }
            return await writer.CompleteAsync();
        }
        catch
        {
            await writer.DisposeAsync();
            throw;
        }
    }

    public static Writer Create(string directory)
    {
        Directory.CreateDirectory(directory);
        return new Writer(System.IO.Path.Combine(directory, $"{Guid.NewGuid():N}.staged"));
    }

    public ValueTask DisposeAsync()
    {
        File.Delete(Path);
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes a staged file, hashing as it goes; <see cref="CompleteAsync"/> seals it.</summary>
    public sealed class Writer : IAsyncDisposable
    {
        private readonly string _path;
        private readonly FileStream _file;
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private bool _completed;

        internal Writer(string path)
        {
            _path = path;
            _file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
        }

        public long Written { get; private set; }

        public async ValueTask WriteAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
        {
            _hash.AppendData(bytes.Span);
            await _file.WriteAsync(bytes, ct);
            Written += bytes.Length;
        }

        public ValueTask WriteLineAsync(string line, CancellationToken ct) =>
            WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"), ct);

        public async Task<StagedFile> CompleteAsync()
        {
            await _file.FlushAsync();
            await _file.DisposeAsync();
            _completed = true;
            var sha = Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
            _hash.Dispose();
            return new StagedFile(_path, sha, Written);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_completed)
            {
                await _file.DisposeAsync();
                _hash.Dispose();
                File.Delete(_path);
            }
        }
    }
}
