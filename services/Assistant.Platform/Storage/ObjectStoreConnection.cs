using System.Data.Common;

namespace Assistant.Platform.Storage;

/// <summary>
/// Where the S3-compatible store is: <c>Endpoint=http://host:port;AccessKey=...;SecretKey=...[;Bucket=...]</c>,
/// the same string in every infrastructure mode (MinIO, fauxqs, or any S3 service).
/// </summary>
public sealed record ObjectStoreConnection(Uri Endpoint, string AccessKey, string SecretKey, string Bucket)
{
    public const string ConnectionName = "s3";
    public const string DefaultBucket = "assistant";

    public static ObjectStoreConnection Parse(string connectionString)
    {
        var parts = new DbConnectionStringBuilder { ConnectionString = connectionString };
        string Required(string key) => parts.TryGetValue(key, out var value) && value is string text && text.Length > 0
            ? text
            : throw new FormatException($"The object store connection string has no {key}.");
        if (!Uri.TryCreate(Required("Endpoint"), UriKind.Absolute, out var endpoint))
        {
            throw new FormatException("The object store connection string's Endpoint is not an absolute URL.");
        }
        var bucket = parts.TryGetValue("Bucket", out var b) && b is string name && name.Length > 0 ? name : DefaultBucket;
        return new ObjectStoreConnection(endpoint, Required("AccessKey"), Required("SecretKey"), bucket);
    }
}
