using System.Diagnostics;
using System.Net;
using Amazon.S3;
using Amazon.S3.Model;
using Amazon.S3.Transfer;

namespace Assistant.Platform.Storage;

/// <summary>The platform's bytes in S3: dataset files, checkpoints, model folders, exports.</summary>
public sealed class ArtifactStore(IAmazonS3 s3, ObjectStoreConnection connection)
{
    private static readonly ActivitySource Activity = new("Assistant.ArtifactStore");

    public string Bucket => connection.Bucket;

    public async Task EnsureBucketAsync(CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 ensure bucket");
        try
        {
            await s3.PutBucketAsync(new PutBucketRequest { BucketName = Bucket }, ct);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
        {
        }
    }

    /// <summary>Uploads a stream of any size with bounded memory (multipart above the part size).</summary>
    public async Task PutAsync(string key, Stream content, string contentType = "application/octet-stream", CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 put");
        span?.SetTag("s3.key", key);
        using var transfer = new TransferUtility(s3);
        await transfer.UploadAsync(new TransferUtilityUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            InputStream = content,
            ContentType = contentType,
            AutoCloseStream = false,
        }, ct);
    }

    /// <summary>Uploads a file; parts are read from disk as they are sent, so memory stays small for any size.</summary>
    public async Task PutFileAsync(string key, string path, string contentType = "application/octet-stream", CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 put file");
        span?.SetTag("s3.key", key);
        using var transfer = new TransferUtility(s3);
        await transfer.UploadAsync(new TransferUtilityUploadRequest
        {
            BucketName = Bucket,
            Key = key,
            FilePath = path,
            ContentType = contentType,
        }, ct);
    }

    /// <summary>Opens an object for streaming; the caller disposes the stream.</summary>
    public async Task<Stream> OpenReadAsync(string key, CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 get");
        span?.SetTag("s3.key", key);
        var response = await s3.GetObjectAsync(Bucket, key, ct);
        return new ResponseStream(response);
    }

    public async Task<long?> GetSizeAsync(string key, CancellationToken ct = default)
    {
        try
        {
            var metadata = await s3.GetObjectMetadataAsync(Bucket, key, ct);
            return metadata.ContentLength;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public Task DeleteAsync(string key, CancellationToken ct = default) => s3.DeleteObjectAsync(Bucket, key, ct);

    /// <summary>Keys and sizes of every object under <paramref name="prefix"/>, following pagination.</summary>
    public async Task<List<(string Key, long Size)>> ListAsync(string prefix, CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 list");
        span?.SetTag("s3.prefix", prefix);
        var objects = new List<(string, long)>();
        var request = new ListObjectsV2Request { BucketName = Bucket, Prefix = prefix };
        ListObjectsV2Response response;
        do
        {
            response = await s3.ListObjectsV2Async(request, ct);
            foreach (var item in response.S3Objects ?? []) objects.Add((item.Key, item.Size ?? 0));
            request.ContinuationToken = response.NextContinuationToken;
        }
        while (response.IsTruncated == true);
        return objects;
    }

    /// <summary>Uploads every file under <paramref name="folder"/> to <paramref name="prefix"/> + its relative path ('/' separators).</summary>
    public async Task UploadFolderAsync(string folder, string prefix, CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 upload folder");
        span?.SetTag("s3.prefix", prefix);
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
            await PutFileAsync(prefix + relative, file, ct: ct);
        }
    }

    /// <summary>
    /// Downloads every object under <paramref name="prefix"/> into <paramref name="folder"/>, keeping the
    /// relative layout. Each file is written beside its name and renamed when whole, so a crash never
    /// leaves a truncated file under the real name. Returns the number of files.
    /// </summary>
    public async Task<int> DownloadFolderAsync(string prefix, string folder, CancellationToken ct = default)
    {
        using var span = Activity.StartActivity("s3 download folder");
        span?.SetTag("s3.prefix", prefix);
        var objects = await ListAsync(prefix, ct);
        var root = Path.GetFullPath(folder);
        foreach (var (key, _) in objects)
        {
            var target = Path.GetFullPath(Path.Combine(root, key[prefix.Length..]));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            {
                throw new InvalidDataException($"Object '{key}' would be written outside '{folder}'.");
            }
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var partial = target + ".partial";
            await using (var source = await OpenReadAsync(key, ct))
            await using (var file = File.Create(partial))
            {
                await source.CopyToAsync(file, ct);
            }
            File.Move(partial, target, overwrite: true);
        }
        return objects.Count;
    }

    /// <summary>Deletes every object under <paramref name="prefix"/> (a checkpoint, a job's files).</summary>
    public async Task<int> DeletePrefixAsync(string prefix, CancellationToken ct = default)
    {
        var objects = await ListAsync(prefix, ct);
        // One request per object: every S3 server (and the local emulator) supports it; prefixes are small.
        foreach (var (key, _) in objects) await DeleteAsync(key, ct);
        return objects.Count;
    }

    /// <summary>A cheap round trip that proves the store answers and the bucket exists.</summary>
    public async Task CheckReachableAsync(CancellationToken ct = default)
    {
        await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = Bucket, MaxKeys = 1 }, ct);
    }

    /// <summary>Keeps the S3 response alive exactly as long as its body stream.</summary>
    private sealed class ResponseStream(GetObjectResponse response) : Stream
    {
        private readonly Stream _body = response.ResponseStream;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => response.ContentLength;
        public override long Position { get => _body.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _body.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => _body.ReadAsync(buffer, ct);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => _body.ReadAsync(buffer, offset, count, ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
